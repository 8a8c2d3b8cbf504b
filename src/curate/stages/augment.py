"""Augmentation: noisy copies, error-injection pairs and LLM-written rows, with provenance and a cap."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from curate.augment.degrade import DEFAULT_GRADES
from curate.augment.operators import OPERATOR_NAMES
from curate.errors import StageError
from curate.secrets import redact_url, url_credentials
from curate.stages.base import REJECT, GlobalStage, StageConfig, StageContext

OpName = Literal[
    "typo",
    "typo_substitute",
    "typo_insert",
    "typo_delete",
    "typo_transpose",
    "ocr",
    "casing",
    "whitespace",
    "punctuation",
    "word_dropout",
    "word_swap",
    "sentence_shuffle",
]
DegradationName = Literal[
    "truncate",
    "drop_step",
    "reorder_steps",
    "perturb_numbers",
    "swap_units",
    "negate",
    "swap_answer",
    "shuffle_list",
]
PROVENANCE = ("origin_id", "augmentation", "is_synthetic")
ORIGINAL_REASON = "pair_source"
"""Reject reason of the originals with ``originals: separate`` (the second output)."""
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Refused:
    """A config value replaced before validation because it holds a secret; never its text.

    Not a ``str``: error formatters that echo string inputs (``got '...'``) show nothing of it.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return "<refused>"


def _refuse_secrets(data: Any, env_fields: tuple[str, ...] = ()) -> Any:
    """Mark string values that carry credentials (URLs) or look like keys (``env_fields``)."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for name, value in data.items():
        if not isinstance(value, str):
            continue
        found = url_credentials(value)
        if found:
            what = ", ".join(
                "userinfo (user:password@)" if f == "userinfo" else f"query parameter {f!r}"
                for f in found
            )
            out[name] = _Refused(
                f"credentials must not be written in a URL ({what} in {redact_url(value)}): "
                "put the key in an environment variable and give its name in `llm.api_key_env`"
            )
        elif name in env_fields and not _ENV_NAME.match(value):
            out[name] = _Refused(
                "must be the name of the environment variable that holds the key (letters, "
                "digits and _, no $), never the key itself"
            )
    return out


def _raise_refused(value: Any) -> Any:
    if isinstance(value, _Refused):
        raise ValueError(value.reason)
    return value


class AugmentOpConfig(BaseModel):
    """One rule-based operator and its rate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    op: OpName = Field(description="Operator: " + ", ".join(OPERATOR_NAMES) + ".")
    rate: float = Field(
        0.05,
        gt=0.0,
        le=1.0,
        description="Probability per unit: per letter (typo, casing, ocr), per space, per "
        "punctuation mark, per word (word_dropout, word_swap) or per sentence (sentence_shuffle).",
    )


class DegradationConfig(BaseModel):
    """One meaning-changing degradation of the response and its grade."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: DegradationName = Field(
        description="truncate (answer cut short), drop_step (a line or sentence removed), "
        "reorder_steps (steps in another order), perturb_numbers (numbers changed), swap_units "
        "(km -> m, hours -> minutes), negate (a `not` added or removed), swap_answer (the answer "
        "of another question in the same shard), shuffle_list (list items in another order)."
    )
    grade: int | None = Field(
        None,
        ge=1,
        le=100,
        description="How wrong the degraded answer is (higher is worse), written to `degradation`; "
        "null: the default (" + ", ".join(f"{k} {v}" for k, v in DEFAULT_GRADES.items()) + ").",
    )

    @property
    def level(self) -> int:
        return self.grade if self.grade is not None else DEFAULT_GRADES[self.name]


class ChatEndpointConfig(BaseModel):
    """An OpenAI-compatible chat-completions endpoint: where, which model, how hard to try.

    No field may hold a secret: a URL with ``user:password@`` or a credential-like query
    parameter (``api-key``, ``key``, ``token``, ``sig``...) is refused; the key is read from the
    environment variable named by ``api_key_env``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    base_url: str = Field(
        min_length=1,
        description="Endpoint root, e.g. https://api.openai.com/v1 (POSTs to /chat/completions).",
    )
    model: str = Field(
        min_length=1,
        description="Model name sent with each request; also the rows' `augmentation`.",
    )
    api_key_env: str | None = Field(
        None,
        description="Name of the environment variable holding the API key (never logged); null: no key.",
    )
    system: str | None = Field(None, description="Optional system message.")
    max_tokens: int = Field(
        512, ge=1, le=1_000_000, description="max_tokens sent with each request."
    )
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature.")
    concurrency: int = Field(
        8, ge=1, le=256, description="Requests in flight at once (per worker process)."
    )
    max_retries: int = Field(
        5, ge=0, le=20, description="Retries on 429, 5xx, timeouts and malformed replies."
    )
    timeout_s: float = Field(
        60.0, gt=0.0, le=3600.0, description="Socket timeout per request (seconds)."
    )
    backoff_s: float = Field(
        0.5, ge=0.0, le=60.0, description="First retry delay; doubles per retry (jittered)."
    )
    max_backoff_s: float = Field(
        30.0, ge=0.0, le=600.0, description="Longest delay, also caps Retry-After."
    )
    cache_path: str | None = Field(
        ".curate/llm-cache.sqlite",
        description="SQLite cache of answers keyed by a hash of the request; resumed runs never pay twice. "
        "Relative to the config file's folder; null: no cache.",
    )
    max_failure_fraction: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="Largest share of requests (per shard) that may fail after their retries; more fails the "
        "run. 1: never fail.",
    )
    failure_min_requests: int = Field(
        20,
        ge=1,
        le=1_000_000,
        description="Requests a shard needs before max_failure_fraction is judged (then: fail fast when "
        "all have failed); a smaller shard fails only when every request failed.",
    )

    @model_validator(mode="before")
    @classmethod
    def _mark_secrets(cls, data: Any) -> Any:
        return _refuse_secrets(data, env_fields=("api_key_env",))

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_marked(cls, v: Any) -> Any:
        return _raise_refused(v)

class AugmentLLMConfig(ChatEndpointConfig):
    """Synthetic rows from an OpenAI-compatible chat-completions endpoint.

    No field may hold a secret: a URL with ``user:password@`` or a credential-like query
    parameter (``api-key``, ``key``, ``token``, ``sig``...) is refused; the key is read from the
    environment variable named by ``api_key_env``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    prompt: str = Field(
        "Rewrite the following text in your own words, keeping its meaning and language:\n\n{text}",
        min_length=1,
        description="Prompt template; {column} fields are filled from each source document.",
    )

    @field_validator("prompt")
    @classmethod
    def _check_prompt(cls, v: str) -> str:
        from curate.augment.llm import template_fields

        template_fields(v)
        return v


class SecretsRefusedConfig(StageConfig):
    """A stage config that may hold endpoint sections: a key written inline anywhere in it is
    refused with a pointer to `api_key_env` (keys come from the environment only)."""

    @model_validator(mode="before")
    @classmethod
    def _mark_secrets(cls, data: Any) -> Any:
        return _refuse_secrets(data)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_marked(cls, v: Any) -> Any:
        return _raise_refused(v)


class AugmentConfig(SecretsRefusedConfig):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    kind: Literal["augment"] = "augment"
    ops: list[AugmentOpConfig] = Field(
        default_factory=list,
        description="Rule-based operators with rates, e.g. [{op: typo, rate: 0.05}].",
    )
    mode: Literal["chain", "each"] = Field(
        "chain",
        description="chain: one copy per source with every operator applied in order; "
        "each: one copy per operator.",
    )
    fraction: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="Share of eligible documents sampled as sources (by a hash of the id).",
    )
    max_synthetic_fraction: float = Field(
        0.2,
        ge=0.0,
        lt=1.0,
        description="Hard cap on synthetic rows / (rows in this stage's output + originals set aside by `originals: "
        "separate`): with `keep` the share of the output, with `separate` of the pairs and their originals together "
        "(the output alone is all pairs by design). Existing synthetic rows count; the gate of the same name measures "
        "the release the same way.",
    )
    field: str = Field(
        "text", min_length=1, description="Column that operators corrupt and LLM answers replace."
    )
    pairs: Literal["none", "correction", "preference"] = Field(
        "none",
        description="correction: new rows keep the original in `clean` (noisy, clean); preference: one "
        "degraded copy per level and per degradation with the original in `chosen`, the degraded "
        "text in `rejected` (TRL's DPO columns) and the grade in `degradation`.",
    )
    degradations: list[DegradationConfig] = Field(
        default_factory=list,
        description="Meaning-changing degradations of `field` for pairs, e.g. [{name: truncate}, "
        "{name: negate, grade: 4}]: one pair per source and degradation that applies to it.",
    )
    prompt_field: str | None = Field(
        None,
        min_length=1,
        description="Column holding the prompt (instruction) of each response: swap_answer takes "
        "answers of other prompts; preference pairs also get it as `prompt`.",
    )
    originals: Literal["keep", "separate"] = Field(
        "keep",
        description="keep: originals pass beside the new rows; separate: originals go to the "
        "step's rejected/ set with reason `pair_source` (a second output), the output holds the "
        "pairs only.",
    )
    levels: list[float] = Field(
        default_factory=lambda: [0.5, 1.0, 2.0, 4.0],
        min_length=1,
        max_length=16,
        description="preference: multipliers of the operator rates, one degraded copy per level "
        "(degradation 1 = mildest).",
    )
    llm: AugmentLLMConfig | None = Field(
        None, description="Synthetic generation through a chat endpoint."
    )

    def with_paths(self, fix: Callable[[str], str]) -> AugmentConfig:
        """``llm.cache_path`` relative to the config file's folder (like every path in a config)."""
        if self.llm is None or self.llm.cache_path is None:
            return self
        llm = self.llm.model_copy(update={"cache_path": fix(self.llm.cache_path)})
        return self.model_copy(update={"llm": llm})

    @field_validator("levels")
    @classmethod
    def _check_levels(cls, v: list[float]) -> list[float]:
        if any(x <= 0 for x in v) or len(set(v)) != len(v):
            raise ValueError("levels must be distinct and positive")
        return v

    @model_validator(mode="after")
    def _check(self) -> AugmentConfig:
        if not self.ops and self.llm is None and not self.degradations:
            raise ValueError("give at least one operator in `ops` or an `llm` section")
        if self.pairs != "none" and not (self.ops or self.degradations):
            raise ValueError(f"pairs: {self.pairs} needs operators in `ops` or `degradations`")
        if self.degradations and self.pairs == "none":
            raise ValueError("degradations make pairs: set pairs: correction or preference")
        names = [d.name for d in self.degradations]
        if len(set(names)) != len(names):
            raise ValueError("each degradation may be listed once")
        if self.pairs == "preference" and self.mode == "each":
            raise ValueError("pairs: preference applies the operators as a chain; use mode: chain")
        return self


class _Variant(BaseModel):
    """One kind of new row per source: rule-based (ops and a rate scale) or LLM."""

    label: str
    ops: list[tuple[str, float]] = []
    scale: float = 1.0
    degradation: int | None = None
    llm: bool = False
    degrade: str | None = None


class Augment(GlobalStage):
    """Adds synthetic rows beside the originals, never more than ``max_synthetic_fraction``.

    keys: ``id``, a stable uniform per id and two flags (eligible source, already synthetic).
    resolve: the candidates (uniform < ``fraction``) with the smallest uniforms, as many as the
    cap allows over the whole input (exact, not in expectation). apply: originals pass unchanged
    (``is_synthetic=false``); each chosen source gets one row per variant with a fresh id
    ``<origin>~a<stage>.<variant>``, ``origin_id``, ``augmentation`` and ``is_synthetic=true``.
    Rows already synthetic are never sources. Memory: the shard plus its new rows.

    Pairs: ``correction`` rows hold the noisy text in ``field`` and the original in ``clean``;
    ``preference`` rows hold TRL's DPO columns ``chosen`` (the original), ``rejected`` (the
    degraded text, also in ``field``), ``prompt`` (from ``prompt_field``) and the grade in
    ``degradation``. ``degradations`` change meaning (truncate, drop or reorder steps, perturb
    numbers or units, negate, another question's answer, shuffle a list): a source gets a pair
    only from those that apply to it (``pairs_not_applicable_<name>`` counts the rest), so the
    cap, which assumes every pair is made, is an upper bound. ``swap_answer`` draws its partner
    from the same shard. ``originals: separate`` sends the originals to ``rejected/`` as
    ``pair_source``, so the output holds only the pairs; the cap then bounds the pairs' share of
    the pairs and originals together (the same rows as with ``keep``, so the same budget), which
    is also what the release gate ``max_synthetic_fraction`` measures.

    LLM failures are judged per shard (apply sees one shard at a time): a source whose request
    fails after its retries is dropped and counted (``llm_failed_rows``, ``llm_error_<cause>``),
    with one warning line per shard. When more than ``llm.max_failure_fraction`` of a shard's
    prompts fail (cache hits count as successes; judged once ``llm.failure_min_requests`` have
    finished; a smaller shard only when all failed), a StageError with the counts and the most
    common error stops the run. Failures spread thinly over many small shards do not stop it;
    the manifest's counters show them. No config value may hold a credential.
    """

    kind: ClassVar[str] = "augment"
    Config: ClassVar[type[StageConfig]] = AugmentConfig
    adds_rows: ClassVar[bool] = True

    def __init__(self, cfg: AugmentConfig) -> None:
        super().__init__(cfg)
        self.cfg: AugmentConfig = cfg
        self.variants = self._variants()

    def _variants(self) -> list[_Variant]:
        cfg = self.cfg
        ops = [(o.op, o.rate) for o in cfg.ops]
        out: list[_Variant] = []
        if ops:
            chain = "+".join(op for op, _ in ops)
            if cfg.pairs == "preference":
                for rank, scale in enumerate(sorted(cfg.levels), start=1):
                    out.append(
                        _Variant(label=f"{chain}@{scale:g}", ops=ops, scale=scale, degradation=rank)
                    )
            elif cfg.mode == "each":
                out.extend(_Variant(label=op, ops=[(op, rate)]) for op, rate in ops)
            else:
                out.append(_Variant(label=chain, ops=ops))
        for d in cfg.degradations:
            out.append(_Variant(label=d.name, degrade=d.name, degradation=d.level))
        if cfg.llm is not None:
            out.append(_Variant(label=cfg.llm.model, llm=True))
        return out

    @property
    def rows_per_source(self) -> int:
        return len(self.variants)

    def required_columns(self) -> set[str]:
        cols = {"id", self.cfg.field}
        if self.cfg.prompt_field:
            cols.add(self.cfg.prompt_field)
        if self.cfg.llm is not None:
            from curate.augment.llm import template_fields

            cols.update(template_fields(self.cfg.llm.prompt))
        return cols

    def _pair_columns(self) -> dict[str, pl.DataType]:
        if self.cfg.pairs == "correction":
            return {"clean": pl.String()}
        if self.cfg.pairs == "preference":
            cols: dict[str, pl.DataType] = {
                "chosen": pl.String(),
                "rejected": pl.String(),
                "degradation": pl.Int32(),
            }
            if self.cfg.prompt_field not in (None, "prompt"):
                cols["prompt"] = pl.String()
            return cols
        return {}

    def added_columns(self) -> set[str]:
        return set(PROVENANCE) | set(self._pair_columns())

    # ------------------------------------------------------------ global protocol

    def _synthetic(self, batch: pl.DataFrame) -> pl.Series:
        if "is_synthetic" in batch.columns:
            return batch["is_synthetic"].cast(pl.Boolean).fill_null(False)
        return pl.Series("is_synthetic", [False] * batch.height, dtype=pl.Boolean)

    def _eligible(self, batch: pl.DataFrame) -> pl.Series:
        return (~self._synthetic(batch)) & batch[self.cfg.field].is_not_null()

    def keys(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "id": batch["id"],
                "_u": ctx.uniform(batch["id"], "select"),
                "_src": self._eligible(batch),
                "_syn": self._synthetic(batch),
            }
        )

    def budget(self, total: int, synthetic: int) -> int:
        """Most sources such that (synthetic + new) / (total + new) <= the cap, exactly."""
        r = self.rows_per_source
        cap = self.cfg.max_synthetic_fraction
        if r == 0:
            return 0
        b = max(0, int((cap * total - synthetic) / ((1.0 - cap) * r)))

        def ok(k: int) -> bool:
            return synthetic + k * r <= cap * (total + k * r)

        while b > 0 and not ok(b):
            b -= 1
        while ok(b + 1):
            b += 1
        return b

    def resolve(self, keys: pl.LazyFrame, ctx: StageContext) -> pl.DataFrame:
        k = keys.select("id", "_u", "_src", "_syn").collect()
        total = k.height
        synthetic = int(k["_syn"].sum()) if total else 0
        candidates = k.filter(pl.col("_src") & (pl.col("_u") < self.cfg.fraction))
        budget = self.budget(total, synthetic)
        chosen = candidates.sort("_u", "id").head(budget)
        ctx.count("augment_candidates", candidates.height)
        ctx.count("augment_selected", chosen.height)
        ctx.count("augment_capped", candidates.height - chosen.height)
        return chosen.select("id", pl.lit(None, dtype=pl.String).alias(REJECT)).sort("id")

    def apply(
        self, batch: pl.DataFrame, decisions: pl.DataFrame, ctx: StageContext
    ) -> pl.DataFrame:
        """Originals unchanged (plus provenance defaults), then the new rows of this shard's sources."""
        out = self._with_provenance(batch)
        chosen = batch["id"].is_in(decisions["id"].implode()) if decisions.height else None
        new = None
        sources = 0
        if chosen is not None:
            src = batch.filter(chosen & self._eligible(batch))
            sources = src.height
            new = self.generate(src, ctx)
        existing = int(self._synthetic(batch).sum())
        added = new.height if new is not None else 0
        ctx.count("source_rows", sources)
        ctx.count("synthetic_added", added)
        ctx.count("synthetic_rows", existing + added)
        ctx.count("original_rows", batch.height - existing)
        if self.cfg.originals == "separate":
            out = out.with_columns(pl.lit(ORIGINAL_REASON, dtype=pl.String).alias(REJECT))
            if new is not None:
                new = new.with_columns(pl.lit(None, dtype=pl.String).alias(REJECT))
        if not added:
            return out
        assert new is not None
        return pl.concat([out, new.select(out.columns).cast(out.schema)], how="vertical")

    # ------------------------------------------------------------ rows

    def _with_provenance(self, batch: pl.DataFrame) -> pl.DataFrame:
        cols: list[pl.Expr] = []
        if "origin_id" not in batch.columns:
            cols.append(pl.lit(None, dtype=pl.String).alias("origin_id"))
        if "augmentation" not in batch.columns:
            cols.append(pl.lit(None, dtype=pl.String).alias("augmentation"))
        cols.append(self._synthetic(batch).alias("is_synthetic"))
        for name, dtype in self._pair_columns().items():
            if name not in batch.columns:
                cols.append(pl.lit(None, dtype=dtype).alias(name))
        return batch.with_columns(cols)

    def generate(self, src: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        """The new rows for ``src`` (eligible sources): one per variant and source, in variant order."""
        from curate.augment.pairs import noisy_copy

        field = self.cfg.field
        base = self._with_provenance(src)
        ids = src["id"].cast(pl.String)
        texts = src[field].cast(pl.String)
        parts: list[pl.DataFrame] = []
        for v, variant in enumerate(self.variants):
            rows = base
            if variant.llm:
                answers = self._llm_answers(src, ctx)
                keep = answers.is_not_null()
                rows, new_text = base.filter(keep), answers.filter(keep)
            elif variant.degrade is not None:
                answers = self._degraded(src, variant.degrade, ctx.doc_seeds(ids, f"v{v}.degrade"))
                # a blank original is no answer to prefer or correct towards: no pair from it
                keep = answers.is_not_null() & (texts.fill_null("").str.strip_chars() != "")
                ctx.count(f"pairs_not_applicable_{variant.degrade}", int((~keep).sum()))
                rows, new_text = base.filter(keep), answers.filter(keep)
            else:
                new_text = noisy_copy(
                    texts,
                    variant.ops,
                    lambda salt, _v=v: ctx.doc_seeds(ids, f"v{_v}.{salt}"),
                    f"v{v}",
                    variant.scale,
                )
            extra: list[pl.Expr | pl.Series] = [
                new_text.alias(field),
                (pl.col("id").cast(pl.String) + f"~a{ctx.stage_index}.{v}").alias("id"),
                pl.col("id").cast(pl.String).alias("origin_id"),
                pl.lit(variant.label, dtype=pl.String).alias("augmentation"),
                pl.lit(True).alias("is_synthetic"),
            ]
            if self.cfg.pairs == "correction":
                extra.append(pl.col(field).cast(pl.String).alias("clean"))
            elif self.cfg.pairs == "preference":
                extra.append(pl.col(field).cast(pl.String).alias("chosen"))
                extra.append(new_text.alias("rejected"))
                extra.append(pl.lit(variant.degradation, dtype=pl.Int32).alias("degradation"))
                if self.cfg.prompt_field not in (None, "prompt"):
                    extra.append(pl.col(self.cfg.prompt_field).cast(pl.String).alias("prompt"))
            parts.append(rows.with_columns(extra))
        if not parts:
            return base.clear()
        return pl.concat(parts, how="vertical")

    def _degraded(self, src: pl.DataFrame, name: str, seeds: Any) -> pl.Series:
        """``field`` degraded by ``name`` per source; null where it does not apply."""
        from curate.augment.degrade import degrade_all

        prompts = None
        if self.cfg.prompt_field:
            prompts = src[self.cfg.prompt_field].cast(pl.String).to_list()
        texts = src[self.cfg.field].cast(pl.String).to_list()
        return pl.Series("answer", degrade_all(name, texts, seeds, prompts), dtype=pl.String)

    def _llm_answers(self, src: pl.DataFrame, ctx: StageContext) -> pl.Series:
        from curate.augment.llm import ChatClient, ChatSettings, LLMFailureError, render_prompts

        llm = self.cfg.llm
        assert llm is not None
        if src.height == 0:
            return pl.Series("answer", [], dtype=pl.String)
        settings = ChatSettings(**llm.model_dump(exclude={"prompt"}))
        client = ChatClient(settings)
        prompts = render_prompts(llm.prompt, src.iter_rows(named=True))
        try:
            answers = client.complete_many(prompts)
        except LLMFailureError as err:
            raise StageError(
                f"stages[{ctx.stage_index - 1}] ({self.kind}): {err.message}", hint=err.hint
            ) from None
        finally:
            for name, n in client.stats.items():
                ctx.count(f"llm_{name}", n)
            for code, n in client.failures.items():
                ctx.count(f"llm_error_{code}", n)
        ctx.count("llm_failed_rows", sum(a is None for a in answers))
        return pl.Series("answer", answers, dtype=pl.String)

    def config_fingerprint(self) -> dict[str, Any]:
        # the failure threshold decides whether a run goes on, never what it writes
        return self.cfg.model_dump(
            mode="json", exclude={"llm": {"max_failure_fraction", "failure_min_requests"}}
        )
