"""The small pipeline the kill, resume-after-change, disk-full and signal tests run through the CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import yaml

WORDS = (
    "data curation pipeline model training text quality filter shard parquet token corpus "
    "language dedup near exact signal score export ingest record source value table query "
    "server index engine worker memory stream batch column schema manifest seed hash"
).split()


def records(n: int, seed: int, dup_every: int = 9) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(n):
        if i and i % dup_every == 0:
            out.append({"text": out[rng.randrange(len(out))]["text"], "n": i})
        else:
            words = [rng.choice(WORDS) for _ in range(rng.randint(5, 60))]
            out.append({"text": " ".join(words).capitalize() + ".", "n": i})
    return out


def write_inputs(root: Path, files: int = 3, per_file: int = 400, small: bool = False) -> list[Path]:
    """``files`` JSON Lines files of ``per_file`` records and one bad line each (small: 2 of 150)."""
    if small:
        files, per_file = 2, 150
    paths = []
    for k in range(files):
        path = root / "in" / f"part-{k}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps(r) for r in records(per_file, seed=k)]
        lines.insert(7, "{bad")
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


SMALL_PLANTED = 2 * 151
PLANTED = 3 * 401


def config(root: Path, small: bool = False, **changes: Any) -> dict[str, Any]:
    """The big project: 12 ingest tasks, ~67 shards, dedup + scoring + filter, 2 workers. The small
    one (fast subset): 8 shards, dedup + a filter on a metadata column (no numba), 1 worker."""
    cfg: dict[str, Any] = {
        "input": {"paths": ["in/*.jsonl"], "rows_per_shard": 20, "bytes_per_shard": 30_000},
        "workdir": "work",
        "output": {"path": "out", "rows_per_shard": 100, "split": {"validation": 0.1}, "overwrite": True},
        "engine": {"workers": 2},
        "seed": 3,
        "stages": [
            {"kind": "exact_dedup"},
            {"kind": "quality_score", "heuristics": ["gopher"]},
            {"kind": "filter", "rules": {"enough": "gopher_word_count >= 12"}},
        ],
    }
    if small:
        cfg["input"].update(rows_per_shard=40, bytes_per_shard=10_000)
        cfg["output"]["rows_per_shard"] = 60
        cfg["engine"]["workers"] = 1
        cfg["stages"] = [{"kind": "exact_dedup"}, {"kind": "filter", "rules": {"enough": "n >= 12"}}]
    cfg.update(changes)
    return cfg


def write_config(root: Path, cfg: dict[str, Any], name: str = "c.yaml") -> Path:
    path = root / name
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def make(root: Path, small: bool = False, **changes: Any) -> Path:
    write_inputs(root, small=small)
    return write_config(root, config(root, small, **changes))


def count(folder: Path, pattern: str) -> int:
    return len(list(folder.glob(pattern))) if folder.is_dir() else 0


def exists(path: Path) -> bool:
    return path.exists()


def published(out: Path) -> dict[str, bytes]:
    """The published data files of an exported output, by relative path."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.parquet")) if p.is_file()}


def balance(root: Path, planted: int, workdir: Path | None = None, out: Path | None = None) -> tuple[bool, str]:
    """Every planted input line ends kept or rejected, as the output's manifest lists them.

    A release lists its kept files (``curate_dataset.data_files``) and its rejected sets
    (``rejected_files``, in ``_rejected/``); an output without rejected files listed is checked
    against the rejected sets of the workdir's steps instead.
    """
    import pyarrow.parquet as pq

    out = out or root / "out"
    manifest = json.loads((out / "_manifest.json").read_text())
    block = manifest["curate_dataset"]
    kept = sum(pq.read_metadata(out / f).num_rows for f in block["data_files"])
    if block.get("rejected_files"):
        rejected = sum(pq.read_metadata(out / f).num_rows for f in block["rejected_files"])
    else:
        rejected = sum(pq.read_metadata(p).num_rows for p in (workdir or root / "work").glob("[0-9][0-9]_*/rejected/*.parquet"))
    on_disk = sum(pq.read_metadata(p).num_rows for p in out.rglob("*.parquet"))
    totals = manifest["totals"]
    ok = (
        kept + rejected == planted
        and totals["docs_out"] == kept
        and totals["docs_in"] == planted
        and (on_disk == kept + rejected if block.get("rejected_files") else on_disk == kept)
    )
    return ok, f"planted {planted}, kept {kept}, rejected {rejected}, in the output's files {on_disk}, totals {totals}"
