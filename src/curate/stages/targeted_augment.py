"""LLM2LLM: a teacher writes new examples like the seeds a student model got wrong, one round per run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import polars as pl
from pydantic import ConfigDict, Field, field_validator, model_validator

from curate.errors import StageError
from curate.stages.augment import AugmentLLMConfig, SecretsRefusedConfig
from curate.stages.base import REJECT, GlobalStage, StageConfig, StageContext

TEACHER_FIELDS = ("prompt", "reference", "prediction", "index", "k", "round")
JUDGE_FIELDS = ("prompt", "reference", "prediction")
LINEAGE = ("origin_id", "augmentation", "is_synthetic", "seed_id", "round", "teacher")

_TEACHER_PROMPT = (
    "A student model answered this question wrongly.\n\nQuestion: {prompt}\nCorrect answer: "
    "{reference}\nStudent's answer: {prediction}\n\nWrite new example {index} of {k} (round {round}): a new "
    "question that tests the same skill, different from the one above, and its correct answer. "
    'Reply with JSON only: {{"prompt": "...", "response": "..."}}'
)
_JUDGE_PROMPT = (
    "Question: {prompt}\nReference answer: {reference}\nCandidate answer: {prediction}\n\n"
    "Is the candidate answer correct? Reply with JSON only: "
    '{{"correct": true}} or {{"correct": false}}'
)


def _check_template(v: str, allowed: tuple[str, ...]) -> str:
    from curate.augment.llm import template_fields

    unknown = [f for f in template_fields(v) if f not in allowed]
    if unknown:
        raise ValueError(
            f"unknown field(s) {', '.join('{' + f + '}' for f in unknown)}; allowed: "
            + ", ".join("{" + f + "}" for f in allowed)
        )
    return v


class TeacherConfig(AugmentLLMConfig):
    """The teacher's endpoint and its prompt (fields: {prompt} {reference} {prediction} {index} {k} {round})."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    prompt: str = Field(
        _TEACHER_PROMPT,
        min_length=1,
        description="Teacher prompt per failed seed and example; fields {prompt}, {reference}, "
        "{prediction}, {index}, {k}, {round} (a new round asks anew, not from the cache); the answer "
        'must be JSON {"prompt": ..., "response": ...}.',
    )

    @field_validator("prompt")
    @classmethod
    def _check_teacher_prompt(cls, v: str) -> str:
        return _check_template(v, TEACHER_FIELDS)


class TargetedAugmentConfig(SecretsRefusedConfig):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    kind: Literal["targeted_augment"] = "targeted_augment"
    predictions: str = Field(
        min_length=1,
        description="The student's predictions on the seeds (JSON Lines, JSON, Parquet or CSV): "
        "id, prompt, reference, prediction; from your own eval run.",
    )
    round: int = Field(1, ge=1, le=1000, description="This round's number, written to `round`.")
    check: Literal["exact", "numeric", "regex", "llm"] = Field(
        "exact",
        description="How a prediction is judged: exact (trimmed, case-folded unless "
        "case_sensitive), numeric (last number within tolerance), regex (pattern's first group "
        "equal) or llm (the teacher endpoint with judge_prompt).",
    )
    tolerance: float = Field(1e-6, ge=0.0, description="numeric: absolute tolerance.")
    rel_tolerance: float = Field(
        0.0, ge=0.0, le=1.0, description="numeric: tolerance relative to |reference|, added."
    )
    pattern: str | None = Field(
        None,
        description="Regular expression whose first group is the answer (regex: required; "
        "numeric and exact: applied first when given), e.g. '#### (.+)'.",
    )
    case_sensitive: bool = Field(False, description="exact and regex: compare case.")
    judge_prompt: str = Field(
        _JUDGE_PROMPT,
        min_length=1,
        description='check: llm: the judge prompt ({prompt} {reference} {prediction}); the answer must be JSON {"correct": true|false}.',
    )
    k: int = Field(3, ge=1, le=100, description="New examples the teacher writes per failed seed.")
    prompt_field: str = Field(
        "prompt", min_length=1, description="Column of the dataset holding each example's prompt."
    )
    field: str = Field(
        "response", min_length=1, description="Column of the dataset holding each example's answer."
    )
    max_synthetic_fraction: float = Field(
        0.5,
        ge=0.0,
        lt=1.0,
        description="Hard cap on synthetic rows / all rows in this stage's output (earlier rounds count).",
    )
    teacher: TeacherConfig = Field(
        description="The teacher's chat endpoint (see the `llm` section)."
    )

    @field_validator("judge_prompt")
    @classmethod
    def _check_judge(cls, v: str) -> str:
        return _check_template(v, JUDGE_FIELDS)

    @field_validator("pattern")
    @classmethod
    def _check_pattern(cls, v: str | None) -> str | None:
        import re

        if v is None:
            return v
        try:
            compiled = re.compile(v)
        except re.error as err:
            raise ValueError(f"not a regular expression: {err}") from None
        if compiled.groups < 1:
            raise ValueError("needs a group around the answer, e.g. '#### (.+)'")
        return v

    @model_validator(mode="after")
    def _check(self) -> TargetedAugmentConfig:
        if self.check == "regex" and self.pattern is None:
            raise ValueError("check: regex needs a pattern")
        if self.prompt_field == self.field:
            raise ValueError("prompt_field and field must be different columns")
        return self

    def with_paths(self, fix: Callable[[str], str]) -> TargetedAugmentConfig:
        teacher = self.teacher
        if teacher.cache_path is not None:
            teacher = teacher.model_copy(update={"cache_path": fix(teacher.cache_path)})
        return self.model_copy(update={"predictions": fix(self.predictions), "teacher": teacher})

    def input_paths(self) -> list[tuple[str, str]]:
        return [("predictions", self.predictions)]


class TargetedAugment(GlobalStage):
    """LLM2LLM: new examples like the seeds the student got wrong, from a teacher model.

    Reads ``id``, ``prompt_field``, ``field`` and the ``predictions`` file (the student's answers
    on the seeds, from your eval run; no training happens here). resolve: every prediction of a
    seed (a row not ``is_synthetic``) is checked (exact, numeric, regex or an LLM judge);
    predictions of synthetic rows are never seeds (``predictions_on_synthetic``). The failed
    seeds with the smallest per-id uniforms, as many as ``max_synthetic_fraction`` allows, go
    to the teacher. apply: originals pass unchanged; each chosen seed gets up to ``k`` new rows
    (id ``<seed>~t<round>.<j>``) with the teacher's prompt and answer, ``seed_id``, ``round``,
    ``teacher`` (the model), ``origin_id``, ``augmentation`` and ``is_synthetic``; a ``text``
    column that is neither field gets prompt and answer joined by a blank line. An answer that
    is not JSON ``{"prompt", "response"}`` is dropped (``teacher_unparsed``), and so is a new
    prompt equal (case, spacing and punctuation aside) to a prompt of the shard or to another new
    one (``examples_duplicate``; an exact or near dedup step later sees the whole dataset).
    Seeds that already have rows of this round get none again (``seeds_already_done``).

    Manifest counters of the round R: ``round_R_seeds_checked``, ``round_R_seeds_failed``,
    ``round_R_error_rate_bp`` (basis points), ``round_R_examples_added``; the rows of earlier
    rounds passing through are counted as ``round_r_examples``. Requests go through the
    cached client (a rerun or a resumed run pays nothing twice). Global state: ids and flags.
    """

    kind: ClassVar[str] = "targeted_augment"
    Config: ClassVar[type[StageConfig]] = TargetedAugmentConfig
    adds_rows: ClassVar[bool] = True

    def __init__(self, cfg: TargetedAugmentConfig) -> None:
        super().__init__(cfg)
        self.cfg: TargetedAugmentConfig = cfg

    def required_columns(self) -> set[str]:
        return {"id", self.cfg.prompt_field, self.cfg.field}

    def added_columns(self) -> set[str]:
        return set(LINEAGE)

    def added_schema(self) -> dict[str, pl.DataType | None]:
        types: dict[str, pl.DataType] = {"is_synthetic": pl.Boolean(), "round": pl.Int32()}
        return {c: types.get(c, pl.String()) for c in sorted(LINEAGE)}

    def config_fingerprint(self) -> dict[str, Any]:
        return self.cfg.model_dump(
            mode="json",
            exclude={"teacher": {"max_failure_fraction", "failure_min_requests", "concurrency"}},
        )

    # ------------------------------------------------------------ global protocol

    @staticmethod
    def _synthetic(batch: pl.DataFrame) -> pl.Series:
        if "is_synthetic" in batch.columns:
            return batch["is_synthetic"].cast(pl.Boolean).fill_null(False)
        return pl.Series("is_synthetic", [False] * batch.height, dtype=pl.Boolean)

    def keys(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        done = pl.Series("_done", [None] * batch.height, dtype=pl.String)
        if "seed_id" in batch.columns and "round" in batch.columns:
            # seeds that already have rows of this round (a rerun of the round adds none again)
            same = batch["round"].cast(pl.Int64, strict=False) == self.cfg.round
            done = pl.select(
                pl.when(same.fill_null(False)).then(batch["seed_id"].cast(pl.String)).alias("_done")
            ).to_series()
        return pl.DataFrame(
            {
                "id": batch["id"].cast(pl.String),
                "_u": ctx.uniform(batch["id"], "targeted"),
                "_syn": self._synthetic(batch),
                "_done": done,
            }
        )

    def budget(self, total: int, synthetic: int) -> int:
        """Most seeds such that (synthetic + k x seeds) / (total + k x seeds) <= the cap."""
        r, cap = self.cfg.k, self.cfg.max_synthetic_fraction
        b = max(0, int((cap * total - synthetic) / ((1.0 - cap) * r)))
        while b > 0 and synthetic + b * r > cap * (total + b * r):
            b -= 1
        while synthetic + (b + 1) * r <= cap * (total + (b + 1) * r):
            b += 1
        return b

    def _client(self) -> Any:
        from curate.augment.llm import ChatClient, ChatSettings

        return ChatClient(ChatSettings(**self.cfg.teacher.model_dump(exclude={"prompt"})))

    def _judge(self, preds: pl.DataFrame, ctx: StageContext) -> pl.Series:
        from curate.augment.llm import LLMFailureError, render_prompts
        from curate.augment.targeted import parse_verdict

        client = self._client()
        prompts = render_prompts(self.cfg.judge_prompt, preds.iter_rows(named=True))
        try:
            answers = client.complete_many(prompts)
        except LLMFailureError as err:
            raise StageError(f"{self.kind} judge: {err.message}", hint=err.hint) from None
        finally:
            for name, n in client.stats.items():
                ctx.count(f"judge_{name}", n)
        verdicts = [parse_verdict(a) for a in answers]
        ctx.count("judge_unparsed", sum(v is None for v in verdicts))
        return pl.Series("_ok", verdicts, dtype=pl.Boolean)

    def resolve(self, keys: pl.LazyFrame, ctx: StageContext) -> pl.DataFrame:
        from curate.augment.targeted import correct_expr, read_predictions

        cfg = self.cfg
        r = cfg.round
        k = keys.select("id", "_u", "_syn").collect()
        done = keys.select("_done").drop_nulls().unique().collect()["_done"]
        preds = read_predictions(cfg.predictions)
        known = preds.join(k, on="id", how="inner")
        ctx.count("predictions_unknown_id", preds.height - known.height)
        ctx.count("predictions_on_synthetic", int(known["_syn"].sum()))
        seeds = known.filter(~pl.col("_syn"))
        if cfg.check == "llm":
            judged = seeds.with_columns(self._judge(seeds, ctx))
            judged = judged.filter(pl.col("_ok").is_not_null())  # unparsed verdicts: not judged
        else:
            ok = correct_expr(
                cfg.check,
                tolerance=cfg.tolerance,
                rel_tolerance=cfg.rel_tolerance,
                pattern=cfg.pattern,
                case_sensitive=cfg.case_sensitive,
            )
            judged = seeds.with_columns(ok.alias("_ok"))
        failed = judged.filter(~pl.col("_ok"))
        ctx.count(f"round_{r}_seeds_checked", judged.height)
        ctx.count(f"round_{r}_seeds_failed", failed.height)
        if judged.height:
            ctx.count(f"round_{r}_error_rate_bp", round(10_000 * failed.height / judged.height))
        budget = self.budget(k.height, int(k["_syn"].sum()) if k.height else 0)
        fresh = failed.filter(~pl.col("id").is_in(done.implode()))
        ctx.count("seeds_already_done", failed.height - fresh.height)
        chosen = fresh.sort("_u", "id").head(budget)
        ctx.count("seeds_capped", fresh.height - chosen.height)
        return chosen.select(
            "id",
            pl.lit(None, dtype=pl.String).alias(REJECT),
            pl.col("prediction").alias("_student"),
        ).sort("id")

    def decision_schema(self) -> dict[str, pl.DataType]:
        return {"_student": pl.String()}

    def apply(
        self, batch: pl.DataFrame, decisions: pl.DataFrame, ctx: StageContext
    ) -> pl.DataFrame:
        out = self._with_lineage(batch)
        syn = out.filter(pl.col("is_synthetic") & pl.col("round").is_not_null())
        for (rnd,), part in syn.group_by("round"):
            ctx.count(f"round_{rnd}_examples", part.height)
        new = None
        if decisions.height:
            src = out.join(decisions.select("id", "_student"), on="id", how="inner")
            new = self._generate(
                src, ctx, out[self.cfg.prompt_field].drop_nulls().cast(pl.String).to_list()
            )
        added = new.height if new is not None else 0
        ctx.count(f"round_{self.cfg.round}_examples_added", added)
        if not added:
            return out
        assert new is not None
        return pl.concat([out, new.select(out.columns).cast(out.schema)], how="vertical")

    # ------------------------------------------------------------ rows

    def _with_lineage(self, batch: pl.DataFrame) -> pl.DataFrame:
        cols: list[pl.Expr] = [self._synthetic(batch).alias("is_synthetic")]
        for name, dtype in (
            ("origin_id", pl.String),
            ("augmentation", pl.String),
            ("seed_id", pl.String),
            ("round", pl.Int32),
            ("teacher", pl.String),
        ):
            if name not in batch.columns:
                cols.append(pl.lit(None, dtype=dtype).alias(name))
        return batch.with_columns(cols)

    def _generate(
        self, src: pl.DataFrame, ctx: StageContext, out_prompts: list[Any]
    ) -> pl.DataFrame:
        from curate.augment.llm import LLMFailureError, render_prompts
        from curate.augment.targeted import dedup_key, parse_example

        cfg = self.cfg
        k = cfg.k
        src = src.sort("id")
        rows = [
            {
                "prompt": row[cfg.prompt_field],
                "reference": row[cfg.field],
                "prediction": row["_student"],
                "index": j,
                "k": k,
                "round": cfg.round,
            }
            for row in src.select(cfg.prompt_field, cfg.field, "_student").iter_rows(named=True)
            for j in range(1, k + 1)
        ]
        client = self._client()
        try:
            answers = client.complete_many(render_prompts(cfg.teacher.prompt, rows))
        except LLMFailureError as err:
            raise StageError(f"{self.kind} teacher: {err.message}", hint=err.hint) from None
        finally:
            for name, n in client.stats.items():
                ctx.count(f"llm_{name}", n)
            for code, n in client.failures.items():
                ctx.count(f"llm_error_{code}", n)
        parsed = [parse_example(a) for a in answers]
        ctx.count("teacher_failed", sum(a is None for a in answers))
        ctx.count(
            "teacher_unparsed",
            sum(a is not None and p is None for a, p in zip(answers, parsed, strict=True)),
        )
        # no copy of a seed nor of another new example of this shard (a later dedup step sees all)
        seen = {dedup_key(str(p)) for p in out_prompts}
        for i, p in enumerate(parsed):
            if p is not None:
                key = dedup_key(p[0])
                if key in seen:
                    parsed[i] = None
                    ctx.count("examples_duplicate")
                seen.add(key)
        take = [i for i, p in enumerate(parsed) if p is not None]
        if not take:
            return src.drop("_student").clear()
        seed_pos = [i // k for i in take]
        base = src.drop("_student")[seed_pos]
        new_prompts = [parsed[i][0] for i in take]  # type: ignore[index]
        new_answers = [parsed[i][1] for i in take]  # type: ignore[index]
        ids = base["id"].cast(pl.String)
        suffix = pl.Series([f"~t{cfg.round}.{i % k + 1}" for i in take], dtype=pl.String)
        extra: list[pl.Expr | pl.Series] = [
            (ids + suffix).alias("id"),
            pl.Series(cfg.prompt_field, new_prompts, dtype=pl.String),
            pl.Series(cfg.field, new_answers, dtype=pl.String),
            ids.alias("origin_id"),
            ids.alias("seed_id"),
            pl.lit(self.kind, dtype=pl.String).alias("augmentation"),
            pl.lit(True).alias("is_synthetic"),
            pl.lit(cfg.round, dtype=pl.Int32).alias("round"),
            pl.lit(cfg.teacher.model, dtype=pl.String).alias("teacher"),
        ]
        if "text" in base.columns and "text" not in (cfg.prompt_field, cfg.field):
            extra.append(
                pl.Series(
                    "text", [f"{p}\n\n{a}" for p, a in zip(new_prompts, new_answers, strict=True)]
                )
            )
        return base.with_columns(extra)
