"""``curate graph``: chunk (unless the input is chunks already), then build and write the graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from pydantic import ValidationError

from curate.errors import ConfigError
from curate.graph import GraphSettings, build_graph
from curate.io.shards import list_parts
from curate.publish import space_error

CHUNK_MARKERS = ("document_id", "chunk_index", "n_tokens")
FLAGS = {"cache_path": "llm-cache", "types": "entity-types"}
"""Settings whose flag is not the key with dashes."""


def chunk_shards(inputs: list[str]) -> list[Path] | None:
    """The shards of ``inputs`` when they are a ``curate chunk`` output folder, else None."""
    shards: list[Path] = []
    for item in inputs:
        folder = Path(item)
        if not folder.is_dir():
            return None
        parts = list_parts(folder)
        if not parts:
            return None
        names = pl.read_parquet_schema(parts[0])
        if not all(c in names for c in CHUNK_MARKERS):
            return None
        shards.extend(parts)
    return shards or None


def settings_from(values: dict[str, Any]) -> GraphSettings:
    """Flags -> settings, with the one-line errors every command gives."""
    try:
        return GraphSettings(**values)
    except ValidationError as err:
        first = err.errors()[0]
        key = str(first["loc"][-1]) if first["loc"] else "extractor"
        flag = FLAGS.get(key, key.replace("_", "-"))
        raise ConfigError(f"invalid option --{flag}: {first['msg'].removeprefix('Value error, ')}", hint="see `curate graph --help`") from None


def run_graph(
    inputs: list[str],
    out: Path,
    chunk_cfg: Any,
    values: dict[str, Any],
    *,
    workers: int | None,
    overwrite: bool,
    quiet: bool,
) -> dict[str, Any]:
    """Chunk through the runner (kept chunks in OUT/chunks/, manifest and rejected rows there),
    unless the inputs are chunk shards already; then write the three tables and statistics."""
    from curate.cli import run_to_folder

    settings = settings_from(values)
    settings.builder()  # files, endpoint and key variable checked before any work
    if out.is_file():
        raise ConfigError(f"--output: {out} is a file, expected a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(f"--output: {out} is not empty", hint="choose an empty folder or pass --overwrite")
    shards = chunk_shards(inputs)
    summary: dict[str, Any] = {}
    if shards is None:
        report = run_to_folder(inputs, out / "chunks", [chunk_cfg], workers=workers, overwrite=overwrite, quiet=quiet)
        shards = list_parts(out / "chunks")
        # every input document: read (ingest's count), then kept as chunks or rejected at some step
        summary["documents_in"] = sum(s.stats.docs_in for s in report.steps if s.kind == "ingest")
        summary["documents_rejected"] = sum(s.stats.docs_rejected for s in report.steps)
        summary["documents_chunked"] = sum(s.stats.counters.get("chunk_documents", 0) for s in report.steps if s.kind == "chunk")
    try:
        return build_graph(shards, out, settings, extra=summary)
    except OSError as err:  # a full or read-only disk: said as the runner says it, not a traceback
        clear = space_error(err, out)
        if clear is None:
            raise
        raise clear from None


def graph_summary(stats: dict[str, Any]) -> Any:
    """The statistics as a rich table: counts, degree distribution, top entities."""
    from rich.table import Table

    table = Table(title="curate graph", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    if "documents_in" in stats:
        table.add_row("documents in", f"{stats['documents_in']:,}")
        table.add_row("documents chunked", f"{stats['documents_chunked']:,}")
        table.add_row("documents rejected (see chunks/rejected/)", f"{stats['documents_rejected']:,}")
    table.add_row("chunks (text units)", f"{stats['chunks']:,}")
    table.add_row("chunks with an entity", f"{stats['chunks_with_entity']:,} ({stats['chunks_with_entity_share']:.1%})")
    table.add_row("entities", f"{stats['entities']:,}")
    table.add_row("relationships", f"{stats['relationships']:,}")
    table.add_row("degree mean / max", f"{stats['degree_mean']:.2f} / {stats['degree_max']:,}")
    table.add_row("degree histogram", ", ".join(f"{k}: {v:,}" for k, v in stats["degree_histogram"].items()))
    top = ", ".join(f"{e['title']} ({e['degree']})" for e in stats["top_entities"][:5])
    table.add_row("top entities (degree)", top or "-")
    return table
