"""The local engine: worker-count parity, resume, --from/--until, stage failures as clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Literal

import polars as pl
import pytest

from conftest import make_records, read_dir, read_rejected, write_config, write_jsonl
from curate.config import load_config
from curate.engines.executor import PoolExecutor
from curate.errors import StageError
from curate.pipeline import build_plan
from curate.runner import run_plan


def base_config(tmp_path: Path, n: int = 300, **extra: Any) -> dict[str, Any]:
    write_jsonl(tmp_path / "in" / "a.jsonl", make_records(n, seed=1, dup_every=7), raw_lines={3: b"{bad"})
    write_jsonl(tmp_path / "in" / "b.jsonl.gz", make_records(n // 2, seed=2, dup_every=5))
    cfg = {
        "input": {"paths": [str(tmp_path / "in" / "*")], "rows_per_shard": 40},
        "workdir": str(tmp_path / "work"),
        "output": {"path": str(tmp_path / "out"), "rows_per_shard": 50, "split": {"validation": 0.1}},
        "seed": 5,
        "stages": [{"kind": "exact_dedup"}],
    }
    cfg.update(extra)
    return cfg


def run(tmp_path: Path, cfg: dict[str, Any], workers: int, resume: bool = False, **kw: Any) -> Any:
    path = write_config(tmp_path, cfg)
    plan = build_plan(load_config(path), resume=resume, **kw)
    return run_plan(plan, PoolExecutor(workers))


@pytest.mark.parametrize(
    "stage",
    [
        {"kind": "exact_dedup"},
        {"kind": "minhash_dedup", "threshold": 0.7},
        {"kind": "minhash_dedup", "threshold": 0.7, "verify_by": "signature"},
    ],
)
def test_two_workers_give_the_same_bytes_as_one(tmp_path: Path, stage: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """With two workers the MinHash resolve pieces (as many as there can be here) run in the pool: the
    decisions must not change."""
    monkeypatch.setattr("curate.stages.minhash_dedup._ROWS_PER_PIECE", 1)
    one = tmp_path / "one"
    two = tmp_path / "two"
    first = run(one, base_config(one, stages=[stage]), workers=1)
    second = run(two, base_config(two, stages=[stage]), workers=2)
    files = sorted(p.relative_to(one / "out") for p in (one / "out").rglob("*.parquet"))
    assert files
    for rel in files:
        assert (one / "out" / rel).read_bytes() == (two / "out" / rel).read_bytes()
    assert first.steps[1].stats.counters == second.steps[1].stats.counters
    assert first.steps[1].stats.rejected == second.steps[1].stats.rejected
    assert second.steps[1].stats.docs_rejected > 0


def test_resume_skips_completed_steps(tmp_path: Path) -> None:
    cfg = base_config(tmp_path)
    first = run(tmp_path, cfg, workers=1)
    again = run(tmp_path, {**cfg, "output": {**cfg["output"], "overwrite": True}}, workers=1, resume=True)
    assert [s.skipped for s in again.steps] == [True, True, True]
    assert [s.stats.docs_kept for s in again.steps] == [s.stats.docs_kept for s in first.steps]


def test_a_changed_stage_config_reruns_that_stage_on_resume(tmp_path: Path) -> None:
    cfg = base_config(tmp_path)
    run(tmp_path, cfg, workers=1)
    cfg2 = {**cfg, "stages": [{"kind": "exact_dedup", "lowercase": True}], "output": {**cfg["output"], "overwrite": True}}
    again = run(tmp_path, cfg2, workers=1, resume=True)
    assert [s.skipped for s in again.steps] == [True, False, False]


def test_until_and_from_run_part_of_the_plan(tmp_path: Path) -> None:
    cfg = base_config(tmp_path)
    part = run(tmp_path, cfg, workers=1, until_step="exact_dedup")
    assert [s.kind for s in part.steps] == ["ingest", "exact_dedup"]
    assert not (tmp_path / "out").exists()
    rest = run(tmp_path, cfg, workers=1, from_step="export")
    assert [s.skipped for s in rest.steps] == [True, True, False]
    assert (tmp_path / "out" / "train").is_dir()


def test_from_a_step_whose_predecessor_never_ran_is_an_error(cli, tmp_path: Path) -> None:
    path = write_config(tmp_path, base_config(tmp_path))
    result = cli("run", path, "--from", "export", "-q")
    assert result.exit_code == 2
    assert "has not completed" in result.stderr


def test_counts_add_up_in_every_stage_manifest(tmp_path: Path) -> None:
    run(tmp_path, base_config(tmp_path), workers=2)
    for manifest in sorted((tmp_path / "work").glob("*/_manifest.json")):
        counts = json.loads(manifest.read_text())["counts"]
        assert counts["docs_in"] + counts["docs_added"] == counts["docs_kept"] + counts["docs_rejected"], manifest


def test_rejected_records_carry_stage_reason_and_survivor(tmp_path: Path) -> None:
    run(tmp_path, base_config(tmp_path), workers=1)
    rejected = read_rejected(tmp_path / "work" / "01_exact_dedup")
    kept = read_dir(tmp_path / "work" / "01_exact_dedup")
    assert rejected.height > 0
    assert set(rejected["reject_stage"]) == {"exact_dedup"}
    assert set(rejected["reject_reason"]) == {"exact_duplicate"}
    assert set(rejected["duplicate_of"]) <= set(kept["id"])
    assert "duplicate_of" not in kept.columns


# ---------------------------------------------------------------- a stage that fails


def test_a_failing_stage_is_reported_with_stage_and_shard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from curate.stages.exact_dedup import ExactDedup

    def boom(self: Any, batch: pl.DataFrame, ctx: Any) -> pl.DataFrame:
        raise ValueError("kaboom")

    monkeypatch.setattr(ExactDedup, "keys", boom)
    with pytest.raises(StageError) as err:
        run(tmp_path, base_config(tmp_path), workers=1)
    assert "stages[0] (exact_dedup) failed on part-" in err.value.message
    assert "kaboom" in err.value.message
    assert list((tmp_path / "work" / "logs").glob("*.log"))


def test_map_stages_are_fused_and_only_the_last_writes_kept_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from curate.stages import REGISTRY
    from curate.stages.base import MapStage, StageConfig

    class TagConfig(StageConfig):
        kind: Literal["tag"] = "tag"

    class Tag(MapStage):
        kind: ClassVar[str] = "tag"
        Config: ClassVar[type[StageConfig]] = TagConfig

        def process(self, batch: pl.DataFrame, ctx: Any) -> pl.DataFrame:
            short = pl.col("text").str.len_chars() < 60
            return batch.with_columns(pl.when(short).then(pl.lit("too_short")).alias("_reject"), pl.lit(ctx.stage_index).alias("tagged"))

    monkeypatch.setitem(REGISTRY, "tag", Tag)
    cfg = base_config(tmp_path, stages=[{"kind": "tag"}, {"kind": "tag"}])
    report = run(tmp_path, cfg, workers=1)
    assert [s.kind for s in report.steps] == ["ingest", "tag", "tag", "export"]
    assert report.steps[1].stats.rejected["too_short"] > 0
    assert report.steps[2].stats.docs_rejected == 0
    out = read_dir(tmp_path / "out")
    assert set(out["tagged"]) == {2}
    assert not list((tmp_path / "work" / "01_tag").glob("part-*.parquet"))  # text written once
    assert read_dir(tmp_path / "work" / "02_tag").height == report.steps[2].stats.docs_kept
