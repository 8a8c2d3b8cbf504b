"""A small pipeline built in the test: inputs, config, and a run through the CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from conftest import make_text, write_config, write_jsonl

HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)> & \"quotes\""


def week_records(week: int, n: int = 60, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` documents of two sources; week 2 drops the first 10 ids and adds 15 new ones. Every
    10th record repeats an earlier text (exact duplicates); one short hostile document fails the
    word-count rule."""
    rng = random.Random(seed)
    records = []
    for i in range(n + 15):
        records.append({"id": f"doc-{i:04d}", "text": make_text(rng, rng.randint(20, 60)), "source": "web" if i % 3 else "books"})
    for i in range(10, n + 15, 10):
        records[i]["text"] = records[i - 7]["text"]
    records[5]["text"] = HOSTILE
    return records[:n] if week == 1 else records[10:]


def write_week(folder: Path, week: int, **kw: Any) -> Path:
    return write_jsonl(folder / f"week{week}" / "drop.jsonl", week_records(week, **kw))


def pipeline(tmp_path: Path, inputs: Path, out: Path, workdir: Path, gates: dict[str, Any] | None = None, name: str = "config.yaml") -> Path:
    cfg: dict[str, Any] = {
        "input": {"sources": [{"paths": [str(inputs)], "id_field": "id"}]},
        "workdir": str(workdir),
        "output": {"path": str(out), "overwrite": True},
        "seed": 7,
        "stages": [
            {"kind": "exact_dedup"},
            {"kind": "quality_score", "heuristics": ["gopher"]},
            {"kind": "filter", "rules": {"enough_words": "gopher_word_count >= 10"}},
            {"kind": "tokens", "tokenizer": "whitespace"},
        ],
    }
    if gates is not None:
        cfg["gates"] = gates
    return write_config(tmp_path, cfg, name)


def read(path: Path) -> Any:
    return json.loads(path.read_text())
