"""A global stage with cheap keys right after ingest (exact dedup): ingest computes its keys from
each shard's rows in memory, and the result is the one reading the shards back gives."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from conftest import make_records, write_config, write_jsonl
from curate.config import load_config
from curate.engines import base
from curate.engines.executor import SerialExecutor
from curate.pipeline import build_plan
from curate.runner import run_plan
from curate.stages.exact_dedup import ExactDedup


def _run(root: Path, inputs: dict[str, list[dict[str, Any]]], keep: str = "first") -> Path:
    for name, records in inputs.items():
        write_jsonl(root / "in" / name, records)
    cfg = {
        "input": {"paths": [str(root / "in")], "rows_per_shard": 40},
        "workdir": str(root / "work"),
        "output": {"path": str(root / "out")},
        "stages": [{"kind": "exact_dedup", "keep": keep}, {"kind": "minhash_dedup", "threshold": 0.7}],
    }
    run_plan(build_plan(load_config(write_config(root, cfg))), SerialExecutor())
    return root


def _digest(root: Path) -> dict[str, str]:
    """md5 of every published file but the manifest and card (they hold timings), and the counts."""
    out = {str(p.relative_to(root / "out")): hashlib.md5(p.read_bytes()).hexdigest()
           for p in sorted((root / "out").rglob("*.parquet"))}
    manifest = json.loads((root / "out" / "_manifest.json").read_text())
    out["counts"] = json.dumps([(s["stage"], s["counts"]["docs_in"], s["counts"]["docs_kept"], s["counts"]["docs_rejected"]) for s in manifest["steps"]])
    return out


def _markers(root: Path) -> dict[str, str]:
    """Each exact-dedup key file's done mark: the step's fingerprint, or it @ the shard it came from."""
    keys = root / "work" / "01_exact_dedup" / "_keys"
    return {p.name.split(".")[0]: json.loads(p.read_text())["fingerprint"] for p in sorted((keys / "_stats").glob("*.json"))}


@pytest.fixture
def corpus() -> dict[str, list[dict[str, Any]]]:
    return {"a.jsonl": make_records(150, seed=3, dup_every=4), "b.jsonl": make_records(90, seed=5, dup_every=3)}


def test_keys_computed_at_ingest_give_the_same_output_as_keys_read_back(tmp_path: Path, corpus: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fused = _run(tmp_path / "fused", corpus)
    monkeypatch.setattr(ExactDedup, "keys_cheap", False)
    read_back = _run(tmp_path / "read_back", corpus)
    assert _digest(fused) == _digest(read_back)
    marks = _markers(fused)
    assert marks and all("@" in m for m in marks.values())  # every shard's keys came from ingest
    assert not any("@" in m for m in _markers(read_back).values())


def test_a_keep_rule_reading_another_column_reads_the_shards_back(tmp_path: Path) -> None:
    """``highest:COLUMN`` reads a metadata column, whose type in memory may not be the one read back."""
    root = _run(tmp_path, {"a.jsonl": make_records(80, seed=1, dup_every=3)}, keep="highest:n")
    assert _markers(root) and not any("@" in m for m in _markers(root).values())


def test_a_shard_rewritten_after_ingest_gets_its_keys_from_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ingest's pass over all shards moves a later copy of a repeated id to the rejected set and
    rewrites that shard: the keys computed from its rows before are not used."""
    first = [{"id": f"a{i}", "text": r["text"]} for i, r in enumerate(make_records(60, seed=2, dup_every=4))]
    second = [{"id": f"b{i}", "text": r["text"]} for i, r in enumerate(make_records(60, seed=8, dup_every=5))]
    second[7]["id"] = "a3"  # a repeated id: the later copy is rejected as duplicate_id
    corpus = {"a.jsonl": first, "b.jsonl": second}
    fused = _run(tmp_path / "fused", corpus)
    marks = _markers(fused)
    rewritten = [s for s, m in marks.items() if "@" not in m]
    assert len(rewritten) == 1 and any("@" in m for m in marks.values())
    rejected = pl.read_parquet(next((fused / "work" / "00_ingest" / "rejected").glob(f"{rewritten[0]}*.parquet")))
    assert rejected["reject_reason"].to_list() == ["duplicate_id"]
    monkeypatch.setattr(ExactDedup, "keys_cheap", False)
    assert _digest(fused) == _digest(_run(tmp_path / "read_back", corpus))


def test_keys_marked_with_a_file_are_not_done_once_the_file_is_replaced(tmp_path: Path) -> None:
    keys_dir, source = tmp_path / "_keys", tmp_path / "ingest"
    source.mkdir()
    shard = source / "part-00000-0000.parquet"
    pl.DataFrame({"id": ["x"], "text": ["t"]}).write_parquet(shard)
    stats = base.StageStats(counters={"k": 1})
    base.save_stats(keys_dir, "part-00000-0000", f"fp@{base.shard_identity(shard)}", stats)
    assert base.done_keys(keys_dir, "part-00000-0000", "fp", source) == stats
    assert base.done_keys(keys_dir, "part-00000-0000", "other", source) is None
    assert base.done_keys(keys_dir, "part-00000-0000", "fp", None) is None  # read through replayed steps
    pl.DataFrame({"id": ["x"], "text": ["u"]}).write_parquet(tmp_path / "new.parquet")
    (tmp_path / "new.parquet").replace(shard)
    assert base.done_keys(keys_dir, "part-00000-0000", "fp", source) is None


def test_a_resume_after_the_keep_rule_changed_keys_the_shards_again(tmp_path: Path, corpus: Any) -> None:
    """Ingest is reused (its config did not change) and computes no keys; the exact-dedup step,
    run with another config, keys every shard from its file: the result of a fresh run."""
    root = _run(tmp_path / "changed", corpus)
    cfg_path = root / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["stages"][0]["keep"] = "longest"
    cfg["output"]["overwrite"] = True  # the published release is of the first config
    cfg_path.write_text(yaml.safe_dump(cfg))
    run_plan(build_plan(load_config(cfg_path), resume=True), SerialExecutor())
    assert _markers(root) and not any("@" in m for m in _markers(root).values())
    assert _digest(root) == _digest(_run(tmp_path / "fresh", corpus, keep="longest"))


def test_a_global_stage_counts_the_cpu_time_of_its_keys(tmp_path: Path, corpus: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Wherever its keys were computed (by ingest, by a keys pass, inside the chain before it), a
    global stage's manifest counts their CPU time."""
    for keys_cheap in (True, False):
        monkeypatch.setattr(ExactDedup, "keys_cheap", keys_cheap)
        root = _run(tmp_path / str(keys_cheap), corpus)
        steps = {s["stage"]: s["counts"] for s in json.loads((root / "out" / "_manifest.json").read_text())["steps"]}
        for step, folder in (("exact_dedup", "01_exact_dedup"), ("minhash_dedup", "02_minhash_dedup")):
            marks = [json.loads(p.read_text())["stats"] for p in (root / "work" / folder / "_keys" / "_stats").glob("*.json")]
            keys_cpu = sum(m.get("cpu_seconds", 0.0) for m in marks)
            assert marks and keys_cpu > 0
            assert steps[step]["cpu_seconds"] >= round(keys_cpu, 3) - 0.001


def test_a_global_stage_counts_the_cpu_time_of_its_resolve_pieces_wherever_they_ran(
    tmp_path: Path, corpus: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pieces that ran in another process report their CPU time; those that ran in the runner's
    own process are in its clock already (counted once)."""
    from curate.engines.executor import PoolExecutor, ThreadExecutor

    monkeypatch.setattr("curate.stages.minhash_dedup._ROWS_PER_PIECE", 1)  # a piece per band or group
    for executor in (SerialExecutor(), ThreadExecutor(2), PoolExecutor(2)):
        root = tmp_path / type(executor).__name__
        for name, records in corpus.items():
            write_jsonl(root / "in" / name, records)
        cfg = {"input": {"paths": [str(root / "in")], "rows_per_shard": 40}, "workdir": str(root / "work"),
               "output": {"path": str(root / "out")}, "stages": [{"kind": "minhash_dedup", "threshold": 0.7}]}
        run_plan(build_plan(load_config(write_config(root, cfg))), executor)
        executor.close()
        marker = json.loads((root / "work" / "01_minhash_dedup" / "_decisions" / "_SUCCESS.json").read_text())
        assert marker["cpu_seconds"] > 0


def test_resolve_pieces_report_where_they_ran() -> None:
    assert base._this_process() == base._this_process()
    assert base._this_process().endswith(f":{__import__('os').getpid()}")
