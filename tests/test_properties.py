"""Invariants on generated corpora: nothing is lost, counts add up, results are deterministic."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from conftest import read_dir, read_rejected
from curate.config import parse_config
from curate.pipeline import build_plan
from curate.runner import run_plan, run_stage_frames
from curate.stages import REGISTRY
from curate.stages.base import GlobalStage, MapStage, StageContext

TEXTS = st.sampled_from(["alpha beta", "gamma delta", "Alpha  beta", "epsilon", "  ", "", "zeta eta theta", "é e\u0301"])
LINE = st.one_of(
    TEXTS.map(lambda t: json.dumps({"text": t}).encode()),
    st.text(min_size=1, max_size=30).map(lambda t: json.dumps({"text": t, "m": 1}).encode()),
    st.sampled_from([b"{broken", b'{"text": 5}', b"[1]", b'{"other": "x"}', b'{"text": "\xff\xfe"}']),
)
CORPUS = st.lists(LINE, min_size=0, max_size=40)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def run_pipeline(tmp: Path, lines: list[bytes], name: str, rows_per_shard: int = 7, stages: list[Any] | None = None) -> Path:
    src = tmp / "in.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    root = tmp / name
    cfg = parse_config(
        {
            "input": {"paths": [str(src)], "rows_per_shard": rows_per_shard, "bytes_per_shard": 200},
            "workdir": str(root / "work"),
            "output": {"path": str(root / "out"), "rows_per_shard": 5, "split": {"validation": 0.3}},
            "engine": {"workers": 1},
            "seed": 11,
            "stages": stages if stages is not None else [{"kind": "exact_dedup"}],
        }
    )
    run_plan(build_plan(cfg))
    return root


@SETTINGS
@given(CORPUS)
def test_every_document_is_kept_or_rejected_and_counts_add_up(tmp_path_factory, lines: list[bytes]) -> None:
    tmp = tmp_path_factory.mktemp("c")
    root = run_pipeline(tmp, lines, "run")
    manifest = json.loads((root / "work" / "_run.json").read_text())
    steps = manifest["steps"]
    nonblank = sum(1 for ln in lines if ln.strip())
    assert steps[0]["counts"]["docs_in"] == nonblank
    for prev, step in zip(steps, steps[1:], strict=False):
        assert step["counts"]["docs_in"] == prev["counts"]["docs_kept"]
    for step in steps:
        c = step["counts"]
        assert c["docs_in"] + c["docs_added"] == c["docs_kept"] + c["docs_rejected"]
    out = read_dir(root / "out")
    rejected = read_rejected(root / "work")
    assert out.height + rejected.height == nonblank
    all_ids = (out["id"].to_list() if out.height else []) + (rejected["id"].to_list() if rejected.height else [])
    assert len(set(all_ids)) == nonblank


@SETTINGS
@given(CORPUS)
def test_same_input_same_config_gives_byte_identical_files(tmp_path_factory, lines: list[bytes]) -> None:
    tmp = tmp_path_factory.mktemp("d")
    a = run_pipeline(tmp, lines, "a")
    b = run_pipeline(tmp, lines, "b")
    files_a = sorted(p.relative_to(a / "out") for p in (a / "out").rglob("*.parquet"))
    files_b = sorted(p.relative_to(b / "out") for p in (b / "out").rglob("*.parquet"))
    assert files_a == files_b
    for rel in files_a:
        assert (a / "out" / rel).read_bytes() == (b / "out" / rel).read_bytes()


CHAIN = [{"kind": "exact_dedup"}, {"kind": "filter", "rules": {"not_alpha": "text != 'alpha beta'"}}, {"kind": "filter", "rules": {"not_eps": "text != 'epsilon'"}}]
"""A global stage's apply heading two filters: one fused chain, whose last step alone writes kept rows."""


@SETTINGS
@given(CORPUS)
def test_a_fused_chain_gives_the_files_of_its_steps_run_one_at_a_time(tmp_path_factory, lines: list[bytes]) -> None:
    tmp = tmp_path_factory.mktemp("f")
    fused = run_pipeline(tmp, lines, "fused", stages=CHAIN)
    stepwise = tmp / "stepwise"
    for until in ("exact_dedup", "02_filter", None):  # every step writes its kept rows
        cfg = parse_config(json.loads((fused / "work" / "_run.json").read_text())["config"])
        cfg = cfg.model_copy(update={"workdir": str(stepwise / "work"), "output": cfg.output.model_copy(update={"path": str(stepwise / "out")})})
        run_plan(build_plan(cfg, resume=True, until_step=until))
    assert not list((fused / "work" / "01_exact_dedup").glob("part-*")) and not list((fused / "work" / "02_filter").glob("part-*"))
    assert json.loads((stepwise / "work" / "02_filter" / "_manifest.json").read_text())["curate_dataset"]["materialized"] is True

    def parquet(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.parquet")) if "_keys" not in p.parts}
    assert parquet(fused / "out") == parquet(stepwise / "out")
    assert {k: v for k, v in parquet(fused / "work").items() if "rejected" in k} == {k: v for k, v in parquet(stepwise / "work").items() if "rejected" in k}
    nonblank = sum(1 for ln in lines if ln.strip())
    assert read_dir(fused / "out").height + read_rejected(fused / "work").height == nonblank


@SETTINGS
@given(CORPUS, st.integers(1, 12))
def test_records_do_not_depend_on_shard_size(tmp_path_factory, lines: list[bytes], rows: int) -> None:
    tmp = tmp_path_factory.mktemp("s")
    a = read_dir(run_pipeline(tmp, lines, "a", rows_per_shard=rows) / "out")
    b = read_dir(run_pipeline(tmp, lines, "b", rows_per_shard=40) / "out")
    assert_frame_equal(a, b)


@SETTINGS
@given(CORPUS)
def test_exact_dedup_keeps_one_copy_with_the_smallest_id(tmp_path_factory, lines: list[bytes]) -> None:
    tmp = tmp_path_factory.mktemp("x")
    root = run_pipeline(tmp, lines, "r")
    ingested = read_dir(root / "work" / "00_ingest")
    out = read_dir(root / "out")
    if not ingested.height:
        return
    norm = ingested.with_columns(pl.col("text").str.replace_all(r"\s+", " ").str.strip_chars().alias("k"))
    expected = norm.group_by("k").agg(pl.col("id").min()).sort("id")["id"].to_list()
    assert out["id"].to_list() == expected


# ---------------------------------------------------------------- over every registered stage

EXAMPLES: dict[str, dict[str, Any]] = {
    "augment": {"ops": [{"op": "typo", "rate": 0.1}]},
    "filter": {"rules": {"has_text": "text != ''"}},
    "decontaminate": {"evals": [{"name": "tiny", "path": str(Path(__file__).parent / "data" / "tiny_eval.jsonl"), "fields": ["question", "answer"]}], "ngram": 3, "min_words": 1},
    "select": {"method": "gumbel", "fraction": 0.5},
    "bad_words": {"lists": {"en": str(Path(__file__).parent / "data" / "bad_words_en.txt")}},
    "lab_generate": {"taxonomy": str(Path(__file__).parent / "data" / "lab_taxonomy"), "max_synthetic_fraction": 0.0, "teacher": {"base_url": "http://127.0.0.1:9/v1", "model": "t", "cache_path": None}},
    "targeted_augment": {"predictions": str(Path(__file__).parent / "data" / "llm2llm_predictions.jsonl"), "prompt_field": "text", "field": "source", "teacher": {"base_url": "http://127.0.0.1:9/v1", "model": "t", "cache_path": None}},
    "dsir_score": {"target": [{"path": str(Path(__file__).parent / "data" / "tiny_eval.jsonl"), "fields": ["question", "answer"]}], "buckets": 64},
    "url_filter": {"url_column": "text", "url_dedup": True, "max_per_domain": 1},
    "learnability_score": {"target": [{"path": str(Path(__file__).parent / "data" / "tiny_eval.jsonl"), "fields": ["question", "answer"]}], "table_bits": 12, "vocab_bits": 10},
}
"""Config values for kinds whose defaults cannot run alone (filter rules, models)."""


def _frame(texts: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"id": [f"{i:04d}" for i in range(len(texts))], "text": texts, "source": ["s"] * len(texts)},
        schema={"id": pl.String, "text": pl.String, "source": pl.String},
    )


def _stage(kind: str) -> Any:
    cls = REGISTRY[kind]
    return cls(cls.Config.model_validate({"kind": kind, **EXAMPLES.get(kind, {})}))


MAP_KINDS = sorted(k for k, c in REGISTRY.items() if issubclass(c, MapStage))
GLOBAL_KINDS = sorted(k for k, c in REGISTRY.items() if issubclass(c, GlobalStage))
DEDUP_KINDS = sorted(k for k in GLOBAL_KINDS if k.endswith("_dedup"))
TEXT_LISTS = st.lists(st.sampled_from(["a b c d e f", "a b c d e g", "x y z", "", "Hello world.", "x y z"]), min_size=0, max_size=20)


def test_every_stage_config_has_defaults_that_round_trip() -> None:
    for kind, cls in REGISTRY.items():
        cfg = cls.Config.model_validate({"kind": kind, **EXAMPLES.get(kind, {})})
        assert cls.Config.model_validate(cfg.model_dump()) == cfg
        for name, field in cls.Config.model_fields.items():
            assert name == "kind" or field.description, f"{kind}.{name} has no description"


@settings(max_examples=30, deadline=None)
@given(TEXT_LISTS, st.integers(0, 20))
def test_map_stages_are_batch_invariant(texts: list[str], cut: int) -> None:
    for kind in MAP_KINDS:
        stage = _stage(kind)
        stage.setup()
        frame = _frame(texts)
        whole = stage.process(frame, StageContext(1, 1, kind))
        parts = [stage.process(frame.slice(0, cut), StageContext(1, 1, kind)), stage.process(frame.slice(cut), StageContext(1, 1, kind))]
        assert_frame_equal(whole, pl.concat(parts, how="diagonal_relaxed"))


def _resolve(stage: Any, shards: list[pl.DataFrame]) -> pl.DataFrame:
    """The decisions of a global stage over these shards, through the runner's own units."""
    with tempfile.TemporaryDirectory() as tmp:
        return run_stage_frames(stage, shards, Path(tmp), seed=1, commit=False)[1]


@settings(max_examples=30, deadline=None)
@given(TEXT_LISTS, st.integers(1, 6))
def test_global_stages_are_shard_invariant_and_remove_exact_copies(texts: list[str], n_shards: int) -> None:
    frame = _frame(texts)
    for kind in GLOBAL_KINDS:
        stage = _stage(kind)
        one = _resolve(stage, [frame]).sort("id")
        size = max(1, -(-frame.height // n_shards))
        many = _resolve(stage, [frame.slice(i, size) for i in range(0, max(frame.height, 1), size)]).sort("id")
        assert_frame_equal(one, many)
        if kind not in DEDUP_KINDS:
            continue
        removed = set(one.filter(pl.col("_reject").is_not_null())["id"])
        for text in set(texts):
            ids = sorted(frame.filter(pl.col("text") == text)["id"])
            assert ids[0] not in removed or text.strip() == ""
            assert set(ids[1:]) <= removed or text.strip() == ""
