"""Shared helpers: small corpora built in code, written in any input format, and a CLI runner."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from curate.cli import app

WORDS = (
    "data curation pipeline model training text quality filter shard parquet token corpus "
    "language dedup near exact signal score export ingest record source value table query "
    "server index engine worker memory stream batch column schema manifest seed hash"
).split()


def make_text(rng: random.Random, n_words: int = 40) -> str:
    """A sentence-like text of random vocabulary words."""
    words = [rng.choice(WORDS) for _ in range(n_words)]
    return " ".join(words).capitalize() + "."


def make_records(n: int, seed: int = 0, dup_every: int = 0) -> list[dict[str, Any]]:
    """``n`` records with text and metadata; every ``dup_every``-th is a copy of an earlier one."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(n):
        if dup_every and i and i % dup_every == 0:
            out.append({"text": out[rng.randrange(len(out))]["text"], "n": i})
        else:
            out.append({"text": make_text(rng, rng.randint(5, 60)), "n": i})
    return out


def write_jsonl(path: Path, records: list[Any], raw_lines: dict[int, bytes] | None = None) -> Path:
    """Write records as JSON Lines (gz by suffix); ``raw_lines`` inserts raw bytes at line indexes."""
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in records]
    for idx, raw in sorted((raw_lines or {}).items()):
        lines.insert(idx, raw)
    data = b"\n".join(lines) + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    elif path.suffix == ".zst":
        import zstandard

        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


def fresh_python(code: str, timeout: float = 120) -> str:
    """Run ``code`` in a new interpreter (imports and start-up as a user's process sees them):
    its stdout, stripped; a failure shows its stderr."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def write_config(tmp_path: Path, cfg: dict[str, Any], name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def read_dir(path: Path) -> pl.DataFrame:
    """All Parquet files under a folder (recursively), sorted by id, as one frame."""
    files = sorted(
        p for p in path.rglob("*.parquet")
        if not any(part == "rejected" or part.startswith(("_", ".")) for part in p.relative_to(path).parts)
    )
    if not files:
        return pl.DataFrame()
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed").sort("id")


def read_rejected(path: Path) -> pl.DataFrame:
    files = sorted(path.rglob("rejected/*.parquet"))
    if not files:
        return pl.DataFrame()
    return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed").sort("id")


@pytest.fixture
def cli() -> Any:
    """Invoke the CLI in-process; returns the click Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke
