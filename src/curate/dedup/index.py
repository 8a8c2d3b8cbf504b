"""The incremental MinHash index: kept documents of earlier releases, on disk.

A folder of ``part-NNNNN.parquet`` files (``id``, band hashes, shingle set or 16-bit signature, ``_text_hash``
and ``_release``, the run id that added the entry) and ``_index.json`` (format, parameters and
the parts), which is replaced last and is therefore the commit point. Only the runner changes
an index, when a run that extends it has completed (``curate.side_state``); a run killed
mid-way leaves it as it was, and committing the same run twice adds nothing.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from curate.errors import InputError
from curate.io.lock import FolderLock
from curate.io.shards import os_error_of
from curate.side_state import committer

INDEX_VERSION = 5
"""2: signatures stored as binary; 3: the low 16 bits of each value; 4: every entry carries
``_text_hash`` (so a rerun recognises documents it already holds) and ``_release``; 5: entries
carry what verification compares: the shingle set (``_set``, with ``verify_by: jaccard``, the
default) or the signature (``_sig``)."""

MANIFEST = "_index.json"
KIND = "minhash_index"


def empty_entries(bands: int, check: str = "_set") -> pl.DataFrame:
    """No entries, with the columns of an index whose verification column is ``check``."""
    schema: dict[str, Any] = {"id": pl.String}
    for i in range(bands):
        schema[f"_band_{i}"] = pl.UInt64
    schema[check] = pl.Binary
    schema["_text_hash"] = pl.UInt64
    schema["_release"] = pl.String
    return pl.DataFrame(schema=schema)


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The index manifest, None for a new (missing or empty) folder; a clear error if unreadable."""
    manifest = Path(path) / MANIFEST
    if not manifest.exists():
        return None
    try:
        return json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(
            f"minhash index {path}: unreadable manifest ({err})",
            hint="point `index` at a folder written by minhash_dedup, or at a new folder",
        ) from None


def check_params(path: Path, manifest: dict[str, Any], params: dict[str, Any]) -> None:
    """Refuse an index built with other settings: its band hashes would mean nothing here."""
    theirs = manifest.get("params") or {}
    if theirs == params:
        return
    diff = [f"{k}={theirs.get(k)!r} (this stage: {params.get(k)!r})" for k in sorted(set(theirs) | set(params)) if theirs.get(k) != params.get(k)]
    if theirs.get("version") != params.get("version"):
        hint = "the index format changed: rebuild it with this version of curate (a new index folder)"
    else:
        hint = "use the same num_perm/bands/rows/seed/ngram/shingle/hash as the index, or a new index folder"
    raise InputError(f"minhash index {path} was built with other settings: {', '.join(diff)}", hint=hint)


def load_entries(path: Path, params: dict[str, Any], columns: list[str]) -> tuple[pl.DataFrame, list[str]]:
    """``columns`` of every entry, and the part files (to scan for the other columns)."""
    manifest = read_manifest(path)
    if manifest is None:
        return empty_entries(int(params["bands"]), params.get("check", "_set")).select(columns), []
    check_params(path, manifest, params)
    files = [str(Path(path) / p["file"]) for p in manifest.get("parts", [])]
    if not files:
        return empty_entries(int(params["bands"]), params.get("check", "_set")).select(columns), []
    return pl.read_parquet(files, columns=columns), files


@committer(KIND)
def commit_part(staged: Path, desc: dict[str, Any]) -> int:
    """Add a staged part to the index, under the index's own lock; a run id already there adds nothing."""
    path = Path(desc["target"])
    run_id = desc.get("run_id")
    with FolderLock(path, what="minhash index"):
        manifest = read_manifest(path) or {"format": INDEX_VERSION, "params": desc["params"], "parts": []}
        check_params(path, manifest, desc["params"])
        parts = list(manifest.get("parts", []))
        key = desc.get("commit_key") or run_id
        if key is not None and any((p.get("commit_key") or p.get("run_id")) == key for p in parts):
            return 0
        frame = pl.read_parquet(staged)
        if parts and frame.height:  # another run committed since this one read the index
            held = pl.read_parquet([str(path / p["file"]) for p in parts], columns=["id"])
            frame = frame.join(held, on="id", how="anti", maintain_order="left")
        name = f"part-{len(parts):05d}.parquet"
        tmp = path / f".{name}.tmp-{os.getpid()}"
        try:
            frame.write_parquet(tmp)
        except pl.exceptions.PolarsError as err:  # a full disk: the OSError the runner words clearly
            tmp.unlink(missing_ok=True)
            raise os_error_of(err, tmp) from None
        os.replace(tmp, path / name)
        parts.append({"file": name, "rows": frame.height, "run_id": run_id, "commit_key": key, "added_at": datetime.now(UTC).isoformat(timespec="seconds")})
        manifest = {"format": INDEX_VERSION, "params": desc["params"], "parts": parts}
        tmp_manifest = path / f".{MANIFEST}.tmp-{os.getpid()}"
        tmp_manifest.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        os.replace(tmp_manifest, path / MANIFEST)
        return frame.height


def info(path: Path) -> dict[str, Any]:
    """What `curate index info` shows: documents, releases, parameters and format version."""
    manifest = read_manifest(path)
    if manifest is None:
        raise InputError(f"{path}: not a minhash index (no {MANIFEST})", hint="point at the folder given as `index`")
    parts = manifest.get("parts", [])
    releases: Counter[str] = Counter()
    added: dict[str, str] = {}
    for p in parts:
        releases[str(p.get("run_id"))] += int(p.get("rows", 0))
        added.setdefault(str(p.get("run_id")), str(p.get("added_at", "?")))
    return {
        "path": str(path),
        "format": manifest.get("format", (manifest.get("params") or {}).get("version")),
        "documents": sum(int(p.get("rows", 0)) for p in parts),
        "parts": len(parts),
        "releases": [{"run_id": r, "documents": n, "added_at": added[r]} for r, n in releases.items()],
        "params": manifest.get("params", {}),
    }
