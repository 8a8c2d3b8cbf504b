"""`input.shard_text_bytes`: ingested shards bounded by their text, the same documents kept and removed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from conftest import fresh_python, make_records, read_dir, write_config, write_jsonl
from curate.config import load_config
from curate.engines.executor import SerialExecutor
from curate.pipeline import build_plan
from curate.runner import run_plan


def _run(root: Path, fmt: str, cap: int | None) -> Path:
    records = make_records(300, seed=4, dup_every=5)
    records[7]["text"] = "long " * 400  # one document over the cap: a shard of its own
    if fmt == "jsonl":
        write_jsonl(root / "in" / "a.jsonl", records)
    else:
        (root / "in").mkdir(parents=True)
        pl.DataFrame(records).write_parquet(root / "in" / "a.parquet", row_group_size=1_000)
    cfg: dict[str, Any] = {
        "input": {"paths": [str(root / "in" / f"a.{fmt}")], "rows_per_shard": 120, "shard_text_bytes": cap},
        "workdir": str(root / "work"),
        "output": {"path": str(root / "out")},
        "stages": [{"kind": "exact_dedup"}, {"kind": "minhash_dedup", "threshold": 0.7}],
    }
    run_plan(build_plan(load_config(write_config(root, cfg))), SerialExecutor())
    return root


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_shards_hold_at_most_the_cap_and_the_same_documents_survive(tmp_path: Path, fmt: str) -> None:
    cap = 1_500
    capped = _run(tmp_path / "capped", fmt, cap)
    rows = _run(tmp_path / "rows", fmt, None)
    shards = sorted((capped / "work" / "00_ingest").glob("part-*.parquet"))
    by_rows = sorted((rows / "work" / "00_ingest").glob("part-*.parquet"))
    assert len(shards) > len(by_rows)
    for s in shards:
        lengths = pl.read_parquet(s, columns=["text"])["text"].str.len_bytes()
        assert lengths.sum() <= cap or len(lengths) == 1
    assert read_dir(capped / "out").equals(read_dir(rows / "out"))
    removed = [pl.concat([pl.read_parquet(f) for f in sorted((r / "out" / "_rejected").glob("*.parquet"))], how="diagonal_relaxed")
               .select("id", "reject_reason").sort("id") for r in (capped, rows)]
    assert removed[0].height > 0
    assert removed[0].equals(removed[1])


def test_cutting_shards_by_text_loads_no_pandas(tmp_path: Path) -> None:
    """The lengths come from the offsets: pyarrow's to_numpy of a chunked array imports pandas (~0.3 s)."""
    pl.DataFrame({"text": [f"document {i} " * 40 for i in range(500)]}).write_parquet(tmp_path / "a.parquet")
    out = fresh_python(
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from curate.cli import app\n"
        f"r = CliRunner().invoke(app, ['dedup', {str(tmp_path / 'a.parquet')!r}, '-o', {str(tmp_path / 'out')!r}, '-q', '-w', '1'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('pandas' in sys.modules)"
    )
    assert out == "False"
