"""The step right before export keeps its shards uncompressed in the workdir (the export re-encodes
every row anyway); what users get from the release does not depend on that codec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from conftest import make_records, write_jsonl
from curate import runner as runner_module
from curate.config import load_config
from curate.engines.executor import SerialExecutor
from curate.pipeline import build_plan
from curate.runner import run_plan


def _config(root: Path, stages: list[dict[str, Any]], **output: Any) -> Path:
    if not (root / "raw").is_dir():  # written once: a rewritten input is another input to --resume
        write_jsonl(root / "raw" / "a.jsonl", make_records(300, seed=7))
        write_jsonl(root / "raw" / "b.jsonl", make_records(200, seed=8))
    cfg = {
        "input": {"paths": [str(root / "raw" / "*.jsonl")], "rows_per_shard": 64},
        "workdir": str(root / "work"),
        "output": {"path": str(root / "out"), "rows_per_shard": 150, **output},
        "stages": stages,
    }
    path = root / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run(config: Path, **kw: Any) -> Any:
    return run_plan(build_plan(load_config(config), **kw), SerialExecutor())


def _codecs(folder: Path) -> set[str]:
    return {
        md.row_group(g).column(c).compression
        for p in sorted(folder.glob("part-*.parquet"))
        for md in [pq.ParquetFile(p).metadata]
        for g in range(md.num_row_groups)
        for c in range(md.num_columns)
    }


def _steps(root: Path) -> list[Path]:
    return sorted(p for p in (root / "work").iterdir() if p.is_dir() and p.name[:2].isdigit())


def _release(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root / "out")): p.read_bytes() for p in sorted((root / "out").rglob("*.parquet"))}


FILTER = [{"kind": "filter", "rules": {"enough_words": "gopher_word_count >= 5"}}]


def test_ingest_then_export_keeps_the_ingested_shards_uncompressed_and_exports_zstd(tmp_path: Path) -> None:
    _run(_config(tmp_path, []))
    assert _codecs(tmp_path / "work" / "00_ingest") == {"UNCOMPRESSED"}
    assert _codecs(tmp_path / "out" / "train") == {"ZSTD"}


def test_only_the_step_the_export_reads_is_uncompressed(tmp_path: Path) -> None:
    _run(_config(tmp_path, FILTER))
    steps = _steps(tmp_path)  # ingest, the filter's scoring (fused with it: no data), filter, export
    assert [p.name.split("_", 1)[1] for p in steps] == ["ingest", "quality_score", "filter", "export"]
    assert _codecs(steps[0]) == {"LZ4"}  # read by the scoring and the filter
    assert _codecs(steps[2]) == {"UNCOMPRESSED"}  # read by the export only
    assert _codecs(tmp_path / "out" / "train") == {"ZSTD"}


@pytest.mark.parametrize("stages", [[], FILTER], ids=["no stages", "a filter"])
@pytest.mark.parametrize("codec", ["lz4", "zstd"])
def test_the_release_holds_the_same_bytes_whatever_codec_the_workdir_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stages: list[dict[str, Any]], codec: str
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _run(_config(a, stages, split={"validation": 0.2}))
    monkeypatch.setattr(runner_module, "EXPORT_INPUT_COMPRESSION", codec)
    _run(_config(b, stages, split={"validation": 0.2}))
    assert _codecs(_steps(b)[-2]) == {codec.upper()}
    assert _release(a) and _release(a) == _release(b)


def test_a_resume_from_shards_an_earlier_version_wrote_lz4_gives_a_fresh_run_s_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh, resumed = tmp_path / "fresh", tmp_path / "resumed"
    _run(_config(fresh, []))
    with monkeypatch.context() as m:  # the ingest step written as before this change
        m.setattr(runner_module, "EXPORT_INPUT_COMPRESSION", "lz4")
        _run(_config(resumed, []), until_step="ingest")
    assert _codecs(resumed / "work" / "00_ingest") == {"LZ4"}
    report = _run(_config(resumed, []), resume=True)
    assert [s.skipped for s in report.steps] == [True, False]
    assert _release(resumed) == _release(fresh)
