"""Ingest computes the keys of the global stage right after it from the rows it holds.

The text is then read once fewer: the keys step computes only the keys of shards whose rows
changed after ingest (a repeated id sent to ``rejected/``). Whatever happens, a run gives the
bytes, decisions and counts of a run where the keys step computed every key itself, and a run
killed anywhere around it resumes to them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from conftest import make_records, write_config, write_jsonl
from curate.config import load_config
from curate.engines import base
from curate.engines.executor import SerialExecutor
from curate.pipeline import build_plan
from curate.runner import Runner, run_plan
from curate.unique_ids import rejected_name

DEDUP = [{"kind": "exact_dedup"}, {"kind": "minhash_dedup", "threshold": 0.7}]


def project(root: Path, stages: list[dict[str, Any]] = DEDUP, repeated_ids: bool = False) -> dict[str, Any]:
    a = [dict(r, id=f"a{i}") for i, r in enumerate(make_records(70, seed=1, dup_every=5))]
    b = [dict(r, id=f"b{i}") for i, r in enumerate(make_records(50, seed=2, dup_every=4))]
    b += [{"text": r["text"].upper(), "n": 1000 + i, "id": f"c{i}"} for i, r in enumerate(a[:30:3])]  # near copies
    if repeated_ids:  # three records of b.jsonl reuse ids of a.jsonl: ingest rejects them after its tasks
        for i in (3, 17, 40):
            b[i]["id"] = f"a{i}"
    write_jsonl(root / "raw" / "a.jsonl", a)
    write_jsonl(root / "raw" / "b.jsonl", b)
    return {
        "input": {"paths": [str(root / "raw")], "rows_per_shard": 20},
        "workdir": str(root / "work"),
        "output": {"path": str(root / "out"), "rows_per_shard": 40, "overwrite": True},
        "engine": {"workers": 1},
        "seed": 3,
        "stages": stages,
    }


def run_cfg(root: Path, cfg: dict[str, Any], **kw: Any) -> Any:
    return run_plan(build_plan(load_config(write_config(root, cfg)), **kw), SerialExecutor())


def parquet_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.parquet")) if not p.name.startswith(".")}


def counts(root: Path) -> list[dict[str, Any]]:
    steps = json.loads((root / "work" / "_run.json").read_text())["steps"]
    return [s["counts"] | {"cpu_seconds": 0} for s in steps]


def decisions(root: Path, step: str) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(p) for p in sorted((root / "work" / step / "_decisions").glob("part-*.parquet"))]).sort("id")


def unfused(root: Path, cfg: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The reference: the same run with every key computed by the keys step."""
    with monkeypatch.context() as m:
        m.setattr(Runner, "_keys_at_ingest", lambda self, ingest: None)
        run_cfg(root, cfg)
    return root


def keys_tasks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The shards whose keys the keys step computes (``keys_task`` calls), recorded."""
    calls: list[str] = []
    real = base.keys_task

    def recording(shard: str, link: Any, *args: Any) -> Any:
        calls.append(f"{link.stage.kind}:{shard}")
        return real(shard, link, *args)

    monkeypatch.setattr(base, "keys_task", recording)
    return calls


def test_ingest_computes_the_first_global_stage_s_keys_and_the_run_is_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = unfused(tmp_path / "ref", project(tmp_path / "ref"), monkeypatch)
    root = tmp_path / "fused"
    calls = keys_tasks(monkeypatch)
    run_cfg(root, project(root))
    assert not [c for c in calls if c.startswith("exact_dedup")]  # every exact key came from ingest
    keys = root / "work" / "01_exact_dedup" / "_keys"
    shards = sorted(p.stem for p in (root / "work" / "00_ingest").glob("part-*.parquet"))
    assert len(shards) > 2 and sorted(p.stem for p in keys.glob("part-*.parquet")) == shards
    assert not (keys / base.FUSED).exists()
    assert parquet_bytes(root / "out") == parquet_bytes(ref / "out")
    assert decisions(root, "01_exact_dedup").equals(decisions(ref, "01_exact_dedup"))
    assert decisions(root, "02_minhash_dedup").equals(decisions(ref, "02_minhash_dedup"))
    assert counts(root) == counts(ref)


def test_a_shard_that_loses_rows_to_the_unique_id_check_gets_its_keys_from_the_keys_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = unfused(tmp_path / "ref", project(tmp_path / "ref", repeated_ids=True), monkeypatch)
    root = tmp_path / "fused"
    calls = keys_tasks(monkeypatch)
    run_cfg(root, project(root, repeated_ids=True))
    rejected = pl.concat([pl.read_parquet(p) for p in (root / "work" / "00_ingest" / "rejected").glob("*.parquet")])
    shards = sorted(p.stem for p in (root / "work" / "00_ingest").glob("part-*.parquet"))
    changed = [s for s in shards if (root / "work" / "00_ingest" / "rejected" / rejected_name(s)).is_file()]
    assert 0 < len(changed) < len(shards)
    assert (rejected["reject_reason"] == "duplicate_id").sum() == 3
    assert sorted(c.split(":")[1] for c in calls if c.startswith("exact_dedup")) == changed  # only those
    assert parquet_bytes(root / "out") == parquet_bytes(ref / "out")
    assert decisions(root, "01_exact_dedup").equals(decisions(ref, "01_exact_dedup"))
    assert counts(root) == counts(ref)


@pytest.mark.parametrize(("where", "after"), [("fused_keys", 2), ("adopt_fused_keys", 0), ("read_shard", 2)])
def test_a_run_killed_while_ingest_computes_keys_resumes_to_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, after: int
) -> None:
    """Killed after ingest wrote some keys but before any was checked (``fused_keys`` dies on
    its third shard, or the runner before it checks them), or while the runner adopts them
    (after the first shard's: the check reads two id columns a shard): the resumed run equals
    a clean one."""
    ref = unfused(tmp_path / "ref", project(tmp_path / "ref", repeated_ids=True), monkeypatch)
    root = tmp_path / "killed"
    cfg = project(root, repeated_ids=True)
    real, calls = getattr(base, where), []

    def dies(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) > after:
            raise KeyboardInterrupt  # what a SIGKILL leaves: some keys written, some or none trusted
        return real(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(base, where, dies)
        with pytest.raises(KeyboardInterrupt):
            run_cfg(root, cfg)
    adopted = list((root / "work" / "01_exact_dedup" / "_keys" / "_stats").glob("*.json"))
    assert len(adopted) == (1 if where == "read_shard" else 0)
    run_cfg(root, cfg, resume=True)
    assert parquet_bytes(root / "out") == parquet_bytes(ref / "out")
    assert decisions(root, "01_exact_dedup").equals(decisions(ref, "01_exact_dedup"))
    assert counts(root) == counts(ref)


def test_keys_that_read_other_columns_than_id_and_text_are_left_to_the_keys_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``keep: highest:n`` ranks by a metadata column, whose type ingest may still change when
    it gives every shard one schema: those keys are computed from the final shards."""
    stages = [{"kind": "exact_dedup", "keep": "highest:n"}]
    root = tmp_path / "run"
    calls = keys_tasks(monkeypatch)
    run_cfg(root, project(root, stages))
    shards = sorted(p.stem for p in (root / "work" / "00_ingest").glob("part-*.parquet"))
    assert sorted(c.split(":")[1] for c in calls) == shards


def test_a_run_that_stops_at_ingest_computes_no_keys(tmp_path: Path) -> None:
    root = tmp_path / "run"
    run_cfg(root, project(root), until_step="ingest")
    assert not (root / "work" / "01_exact_dedup" / "_keys").exists()

