"""LAB generation: taxonomy-guided question/answer pairs from a teacher, judged, capped, with provenance."""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import polars as pl
from pydantic import ConfigDict, Field, field_validator, model_validator

from curate.errors import StageError
from curate.stages.augment import ChatEndpointConfig, SecretsRefusedConfig
from curate.stages.base import REJECT, GlobalStage, StageConfig, StageContext

log = logging.getLogger(__name__)

PROVENANCE = (
    "taxonomy_path",
    "seed_id",
    "judge_score",
    "teacher",
    "prompt_hash",
    "is_synthetic",
    "origin_id",
    "augmentation",
)
GENERATE_FIELDS = ("task", "examples", "context", "index")
ANSWER_FIELDS = ("task", "question", "context")
JUDGE_FIELDS = ("task", "question", "answer", "context")

_GENERATE = (
    "You write training questions for this task: {task}\n\nExamples of good questions and answers:\n"
    "{examples}\n{context}\nWrite new question number {index}: different from the examples, "
    'answerable{context_hint}. Reply with JSON only: {{"question": "..."}}'
)
_ANSWER = (
    "Task: {task}\n{context}\nAnswer the question accurately and concisely.\n\nQuestion: {question}"
)
_JUDGE = (
    "Rate the answer to the question for correctness, grounding in the context (when given) and "
    "helpfulness, from 1 (useless or wrong) to 5 (excellent).\n\nTask: {task}\n{context}\n"
    "Question: {question}\nAnswer: {answer}\n\n"
    'Reply with JSON only: {{"score": <1-5>, "reason": "<one sentence>"}}'
)


def _check_template(v: str, allowed: tuple[str, ...]) -> str:
    from curate.stages.targeted_augment import _check_template as check

    return check(v, allowed)


class LabGenerateConfig(SecretsRefusedConfig):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    kind: Literal["lab_generate"] = "lab_generate"
    taxonomy: str = Field(
        min_length=1,
        description="An InstructLab taxonomy folder (every qna.yaml below it: knowledge v3 and skills), "
        "or our own YAML list of leaves / JSON Lines of seeds.",
    )
    documents_root: str | None = Field(
        None,
        description="Folder where knowledge leaves' document patterns are also looked up (a clone "
        "of the documents' repository); nothing is downloaded.",
    )
    chunk_words: int = Field(
        300, ge=20, le=20_000, description="Words per chunk of a knowledge document."
    )
    questions_per_leaf: int = Field(
        10, ge=1, le=100_000, description="Questions generated per leaf."
    )
    seeds_per_prompt: int = Field(
        3, ge=1, le=20, description="Seed examples shown in each generation prompt."
    )
    min_score: int = Field(4, ge=1, le=5, description="Judge score (1-5) a pair needs to be kept.")
    min_kept_share: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Fail fast (exit 1) when fewer than this share of the judged pairs are kept, checked "
        "after every leaf once fail_after_judged pairs are judged.",
    )
    yield_check: int = Field(
        0,
        ge=0,
        le=1000,
        description="Questions per leaf probed before the full run (their answers are cached and reused); "
        "the run stops (exit 1) when even the upper end of the probe's 95% interval of the kept "
        "share is below min_kept_share. 0: no probe.",
    )
    fail_after_judged: int = Field(
        10, ge=1, le=1_000_000, description="Judged pairs before min_kept_share is checked."
    )
    generate_prompt: str = Field(
        _GENERATE,
        min_length=1,
        description='Question prompt; fields {task} {examples} {context} {index} (and {context_hint}); answer JSON {"question": ...}.',
    )
    answer_prompt: str = Field(
        _ANSWER, min_length=1, description="Answer prompt; fields {task} {question} {context}."
    )
    judge_prompt: str = Field(
        _JUDGE,
        min_length=1,
        description='Judge rubric; fields {task} {question} {answer} {context}; answer JSON {"score": 1-5}.',
    )
    judge_response_format: Literal["json_schema", "json_object", "none"] = Field(
        "json_schema",
        description="response_format sent with judge requests (OpenAI, vLLM, llama.cpp and Ollama take "
        "json_schema; older servers json_object or none); the answer is parsed strictly either way.",
    )
    prompt_field: str = Field(
        "prompt", min_length=1, description="Column the generated question goes to."
    )
    field: str = Field("response", min_length=1, description="Column the answer goes to.")
    max_synthetic_fraction: float = Field(
        0.2,
        ge=0.0,
        lt=1.0,
        description="Hard cap on synthetic rows / all rows in this stage's output.",
    )
    teacher: ChatEndpointConfig = Field(
        description="Endpoint that writes questions and answers (see `llm`)."
    )
    judge: ChatEndpointConfig | None = Field(
        None, description="Endpoint of the judge; null: the teacher."
    )

    @field_validator("generate_prompt")
    @classmethod
    def _check_generate(cls, v: str) -> str:
        return _check_template(v, (*GENERATE_FIELDS, "context_hint"))

    @field_validator("answer_prompt")
    @classmethod
    def _check_answer(cls, v: str) -> str:
        return _check_template(v, ANSWER_FIELDS)

    @field_validator("judge_prompt")
    @classmethod
    def _check_judge(cls, v: str) -> str:
        return _check_template(v, JUDGE_FIELDS)

    @model_validator(mode="after")
    def _check(self) -> LabGenerateConfig:
        if self.prompt_field == self.field:
            raise ValueError("prompt_field and field must be different columns")
        return self

    def with_paths(self, fix: Callable[[str], str]) -> LabGenerateConfig:
        update: dict[str, Any] = {"taxonomy": fix(self.taxonomy)}
        if self.documents_root:
            update["documents_root"] = fix(self.documents_root)
        for name in ("teacher", "judge"):
            ep = getattr(self, name)
            if ep is not None and ep.cache_path is not None:
                update[name] = ep.model_copy(update={"cache_path": fix(ep.cache_path)})
        return self.model_copy(update=update)

    def input_paths(self) -> list[tuple[str, str]]:
        """The taxonomy's files (a folder: every qna.yaml and document below it): a changed seed reruns the step."""
        from pathlib import Path

        root = Path(self.taxonomy)
        if not root.is_dir():
            return [("taxonomy", self.taxonomy)]
        files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
        return [(f"taxonomy/{p.relative_to(root).as_posix()}", str(p)) for p in files] or [
            ("taxonomy", self.taxonomy)
        ]


@dataclass
class LabResult:
    """Kept rows (dicts) and counts of one generation run."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def _settings(ep: ChatEndpointConfig, response_format: str | None = None) -> Any:
    from curate.augment.llm import ChatSettings

    return ChatSettings(**ep.model_dump(), response_format=response_format)


def _judge_format(kind: str) -> str | None:
    from curate.augment.lab import JUDGE_SCHEMA

    if kind == "json_schema":
        return json.dumps(
            {
                "type": "json_schema",
                "json_schema": {"name": "judgement", "schema": JUDGE_SCHEMA, "strict": True},
            }
        )
    if kind == "json_object":
        return json.dumps({"type": "json_object"})
    return None


def _complete(
    settings: Any, prompts: list[str], what: str, counts: Counter[str]
) -> list[str | None]:
    from curate.augment.llm import ChatClient, LLMFailureError

    if not prompts:
        return []
    client = ChatClient(settings)
    try:
        return client.complete_many(prompts)
    except LLMFailureError as err:
        raise StageError(f"lab_generate {what}: {err.message}", hint=err.hint) from None
    finally:
        for name, n in client.stats.items():
            counts[f"llm_{name}"] += n
        for code, n in client.failures.items():
            counts[f"llm_error_{code}"] += n


def _example(seed: Any, kind: str) -> str:
    ctx = f"Context: {seed.context}\n" if seed.context and kind == "skill" else ""
    return f"{ctx}Q: {seed.question}\nA: {seed.answer}\n\n"


def generate(
    cfg: LabGenerateConfig,
    per_leaf: int | None = None,
    progress: Callable[[str], None] | None = None,
    fail_fast: bool = True,
) -> LabResult:
    """Generate -> answer -> judge -> keep, leaf by leaf (one block each), failing fast."""
    from curate.augment.lab import leaf_id, parse_question, parse_score, prompt_hash, read_taxonomy
    from curate.augment.llm import render_prompts
    from curate.augment.targeted import dedup_key

    n = per_leaf or cfg.questions_per_leaf
    leaves = read_taxonomy(cfg.taxonomy, cfg.chunk_words, cfg.documents_root)
    teacher = _settings(cfg.teacher)
    judge = _settings(cfg.judge or cfg.teacher, _judge_format(cfg.judge_response_format))
    out = LabResult()
    c = out.counts
    c["leaves"] = len(leaves)
    seen = {dedup_key(seed.question) for leaf in leaves for seed in leaf.seeds}
    for b, leaf in enumerate(leaves, start=1):
        c["documents_missing"] += leaf.documents_missing
        k = min(cfg.seeds_per_prompt, len(leaf.seeds))
        items = []
        for i in range(n):
            first = (i * k) % len(leaf.seeds)
            picked = [(first + j) % len(leaf.seeds) for j in range(k)]
            examples = "".join(_example(leaf.seeds[s], leaf.kind) for s in picked)
            context = leaf.contexts[i % len(leaf.contexts)] if leaf.contexts else ""
            items.append(
                {
                    "task": leaf.task,
                    "examples": examples,
                    "context": f"\nContext:\n{context}\n" if context else "",
                    "context_hint": " from the context alone" if context else "",
                    "index": i + 1,
                    "_seed": picked[0],
                }
            )
        gen_prompts = render_prompts(cfg.generate_prompt, items)
        questions = [parse_question(a) for a in _complete(teacher, gen_prompts, "generate", c)]
        c["questions_unparsed"] += sum(q is None for q in questions)
        # duplicates of a seed or of an earlier question are not answered
        for j, q in enumerate(questions):
            if q is not None:
                key = dedup_key(q)
                if key in seen:
                    questions[j] = None
                    c["questions_duplicate"] += 1
                seen.add(key)
        live = [
            (it, q, p)
            for it, q, p in zip(items, questions, gen_prompts, strict=True)
            if q is not None
        ]
        answers = _complete(
            teacher,
            render_prompts(cfg.answer_prompt, [{**it, "question": q} for it, q, _ in live]),
            "answer",
            c,
        )
        answered = [
            (it, q, p, a)
            for (it, q, p), a in zip(live, answers, strict=True)
            if a is not None and a.strip()
        ]
        scores = [
            parse_score(s)
            for s in _complete(
                judge,
                render_prompts(
                    cfg.judge_prompt,
                    [{**it, "question": q, "answer": a} for it, q, _, a in answered],
                ),
                "judge",
                c,
            )
        ]
        c["judge_unparsed"] += sum(s is None for s in scores)
        judged = kept = 0
        for (it, q, p, a), s in zip(answered, scores, strict=True):
            if s is None:
                continue
            judged += 1
            if s < cfg.min_score:
                continue
            kept += 1
            out.rows.append(
                {
                    "id": f"lab-{leaf_id(leaf.path)}-{it['index']:05d}",
                    cfg.prompt_field: q,
                    cfg.field: a.strip(),
                    "taxonomy_path": leaf.path,
                    "seed_id": f"{leaf.path}#{it['_seed']}",
                    "judge_score": s,
                    "teacher": cfg.teacher.model,
                    "prompt_hash": prompt_hash(p),
                }
            )
        c["questions_asked"] += n
        c["pairs_judged"] += judged
        c["pairs_kept"] += kept
        line = f"lab_generate [{b}/{len(leaves)}] {leaf.path}: {judged} judged, {kept} kept (total {c['pairs_kept']}/{c['pairs_judged']})"
        log.info(line)
        if progress is not None:
            progress(line)
        if (
            fail_fast
            and c["pairs_judged"] >= cfg.fail_after_judged
            and c["pairs_kept"] < cfg.min_kept_share * c["pairs_judged"]
        ):
            raise StageError(
                f"lab_generate: only {c['pairs_kept']} of {c['pairs_judged']} judged pairs kept "
                f"({c['pairs_kept'] / c['pairs_judged']:.0%}) after {b} of {len(leaves)} leaves, below "
                f"min_kept_share={cfg.min_kept_share:g}; stopped before spending more",
                hint="check the teacher, the prompts and min_score with a --dry-run; answers so far are cached",
            )
    return out


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a share k/n (a small probe's kept share is a rough estimate)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, mid - half), min(1.0, mid + half)


def yield_check(
    cfg: LabGenerateConfig, probe: int, progress: Callable[[str], None] | None = None
) -> list[str]:
    """Run ``probe`` questions per leaf and estimate the full run: requests, tokens, kept share.

    The probe's answers land in the cache, so the full run does not pay for them again.
    """
    return _probe(cfg, probe, progress)[0]


def _probe(
    cfg: LabGenerateConfig, probe: int, progress: Callable[[str], None] | None = None
) -> tuple[list[str], float]:
    """The yield check's lines and the upper end of the kept share's 95% interval."""
    n = min(probe, cfg.questions_per_leaf)
    res = generate(cfg, per_leaf=n, progress=progress, fail_fast=False)
    c = res.counts
    asked = c["questions_asked"]
    requests = c["llm_requests_ok"] + c["llm_requests_failed"] + c["llm_cache_hits"]
    full_questions = c["leaves"] * cfg.questions_per_leaf
    per_q = requests / asked if asked else 0.0
    share = c["pairs_kept"] / c["pairs_judged"] if c["pairs_judged"] else 0.0
    lo, hi = _wilson(c["pairs_kept"], c["pairs_judged"])
    lines = [
        f"leaves: {c['leaves']}; probe: {n} question(s) per leaf, {requests} requests "
        f"({c['llm_cache_hits']} from the cache)",
        f"judged: {c['pairs_judged']}, kept: {c['pairs_kept']} (kept share {share:.2f}, 95% interval "
        f"{lo:.2f}-{hi:.2f}; min_kept_share {cfg.min_kept_share:g}, min_score {cfg.min_score})",
        f"full run: {full_questions} questions, about {round(per_q * full_questions)} requests",
    ]
    paid = c["llm_requests_ok"]
    if paid:
        tok = (c["llm_prompt_tokens"] + c["llm_completion_tokens"]) / paid
        lines.append(
            f"tokens: about {round(tok * per_q * full_questions)} (prompt {c['llm_prompt_tokens']} + "
            f"completion {c['llm_completion_tokens']} over {paid} paid probe requests, from the server's usage)"
        )
    else:
        lines.append("tokens: unknown (every probe answer came from the cache)")
    lines.append(
        f"estimated kept pairs: {round(share * full_questions)} (before max_synthetic_fraction)"
    )
    if share < cfg.min_kept_share:
        lines.append(
            f"warning: kept share {share:.2f} is below min_kept_share {cfg.min_kept_share:g}: the run would fail"
        )
    return lines, hi


class LabGenerate(GlobalStage):
    """LAB: question/answer pairs generated from a taxonomy's seeds by a teacher, judged and kept.

    Reads the ``taxonomy`` (see ``curate.augment.lab`` for the formats); the input dataset only
    fixes the cap and where the rows go. resolve: the smallest id of the input is the anchor;
    the budget is the most rows such that synthetic / all <= ``max_synthetic_fraction``. apply:
    on the anchor's shard, every leaf in path order (one block each: generate ->
    answer -> judge -> keep ``min_score`` and up) adds its kept pairs, at most the budget (in
    leaf and question order; ``pairs_capped`` counts the rest; rows whose id the input already
    holds, from an earlier run, are not added again: ``pairs_already_present``). New rows: id
    ``lab-<leaf hash>-<n>``, ``prompt_field``, ``field``, ``text`` (question and answer) when the
    input has it, ``taxonomy_path``, ``seed_id`` (leaf#seed), ``judge_score``, ``teacher``,
    ``prompt_hash``, ``is_synthetic``, ``augmentation``; other columns null. A generated question
    equal to a seed's or an earlier one (case, spacing and punctuation aside) is neither answered
    nor judged (``questions_duplicate``). Fails fast with a
    one-line error when the kept share falls below ``min_kept_share``. Requests go through the
    cached client: a rerun or a resumed run pays nothing twice. Global state: ids and a flag.
    """

    kind: ClassVar[str] = "lab_generate"
    Config: ClassVar[type[StageConfig]] = LabGenerateConfig
    requires: ClassVar[frozenset[str]] = frozenset({"id"})
    adds_rows: ClassVar[bool] = True

    def __init__(self, cfg: LabGenerateConfig) -> None:
        super().__init__(cfg)
        self.cfg: LabGenerateConfig = cfg

    def added_columns(self) -> set[str]:
        return {*PROVENANCE, self.cfg.prompt_field, self.cfg.field}

    def config_fingerprint(self) -> dict[str, Any]:
        skip = {"max_failure_fraction", "failure_min_requests", "concurrency"}
        return self.cfg.model_dump(
            mode="json",
            exclude={
                "teacher": skip,
                "judge": skip,
                "min_kept_share": True,
                "fail_after_judged": True,
                "yield_check": True,
            },
        )

    @staticmethod
    def _synthetic(batch: pl.DataFrame) -> pl.Series:
        if "is_synthetic" in batch.columns:
            return batch["is_synthetic"].cast(pl.Boolean).fill_null(False)
        return pl.Series("is_synthetic", [False] * batch.height, dtype=pl.Boolean)

    def keys(self, batch: pl.DataFrame, ctx: StageContext) -> pl.DataFrame:
        return pl.DataFrame({"id": batch["id"].cast(pl.String), "_syn": self._synthetic(batch)})

    def budget(self, total: int, synthetic: int) -> int:
        """Most new rows n with (synthetic + n) / (total + n) <= the cap."""
        cap = self.cfg.max_synthetic_fraction
        n = max(0, math.floor((cap * total - synthetic) / (1.0 - cap)))
        while n > 0 and synthetic + n > cap * (total + n):
            n -= 1
        while synthetic + n + 1 <= cap * (total + n + 1):
            n += 1
        return n

    def resolve(self, keys: pl.LazyFrame, ctx: StageContext) -> pl.DataFrame:
        k = keys.select("id", "_syn").collect()
        schema = {
            "id": pl.String,
            REJECT: pl.String,
            "_budget": pl.Int64,
            "_existing": pl.List(pl.String),
        }
        if k.height == 0:
            ctx.count("no_input_rows")
            return pl.DataFrame(schema=schema)
        budget = self.budget(k.height, int(k["_syn"].sum()))
        ctx.count("budget_rows", budget)
        # rows of an earlier run with this taxonomy: never added twice (their ids would repeat)
        existing = k.filter(pl.col("id").str.starts_with("lab-"))["id"].sort().to_list()
        return pl.DataFrame(
            {"id": [k["id"].min()], REJECT: [None], "_budget": [budget], "_existing": [existing]},
            schema=schema,
        )

    def decision_schema(self) -> dict[str, pl.DataType]:
        return {"_budget": pl.Int64(), "_existing": pl.List(pl.String())}

    def _with_provenance(self, batch: pl.DataFrame) -> pl.DataFrame:
        cols: list[pl.Expr] = [self._synthetic(batch).alias("is_synthetic")]
        types = {"judge_score": pl.Int32}
        for name in (*PROVENANCE, self.cfg.prompt_field, self.cfg.field):
            if name not in batch.columns and name != "is_synthetic":
                cols.append(pl.lit(None, dtype=types.get(name, pl.String)).alias(name))
        return batch.with_columns(cols)

    def apply(
        self, batch: pl.DataFrame, decisions: pl.DataFrame, ctx: StageContext
    ) -> pl.DataFrame:
        out = self._with_provenance(batch)
        if not decisions.height:
            return out
        budget = int(decisions["_budget"][0])
        if budget == 0:  # the cap leaves no room: spend nothing
            ctx.count("skipped_no_budget")
            return out
        if self.cfg.yield_check:
            lines, hi = _probe(self.cfg, self.cfg.yield_check)
            for line in lines:
                log.info("lab_generate yield check: %s", line)
            if hi < self.cfg.min_kept_share:
                raise StageError(
                    f"lab_generate yield check: {lines[1]}; even the upper end {hi:.2f} is below "
                    f"min_kept_share={self.cfg.min_kept_share:g}, so the full run was not started",
                    hint="check the teacher, the prompts and min_score; the probe's answers are cached",
                )
        result = generate(self.cfg)
        for name, n in result.counts.items():
            ctx.count(name, n)
        existing = set(decisions["_existing"].to_list()[0] or [])
        fresh = [r for r in result.rows if r["id"] not in existing]
        ctx.count("pairs_already_present", len(result.rows) - len(fresh))
        rows = fresh[:budget]
        ctx.count("pairs_capped", len(fresh) - len(rows))
        ctx.count("synthetic_added", len(rows))
        if not rows:
            return out
        new = pl.DataFrame(rows).with_columns(
            pl.lit(True).alias("is_synthetic"),
            pl.lit(self.kind).alias("augmentation"),
            pl.col("judge_score").cast(pl.Int32),
        )
        if "text" in out.columns and "text" not in (self.cfg.prompt_field, self.cfg.field):
            new = new.with_columns(
                (pl.col(self.cfg.prompt_field) + "\n\n" + pl.col(self.cfg.field)).alias("text")
            )
        if "source" in out.columns and "source" not in new.columns:
            new = new.with_columns(pl.lit(self.kind).alias("source"))
        missing = [
            pl.lit(None, dtype=out.schema[c]).alias(c) for c in out.columns if c not in new.columns
        ]
        new = new.with_columns(missing).select(out.columns).cast(out.schema)
        return pl.concat([out, new], how="vertical")
