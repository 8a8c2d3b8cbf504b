"""A GraphRAG-ready graph from chunks, offline by default: entities, relationships and text units in graphrag's schema.

``build_graph`` reads chunk shards (the ``chunk`` stage's output) twice, one shard at a time:
first to extract mentions (kept as integers), then, after the global step (``builder.py``), to
write ``text_units.parquet`` with each chunk's entity and relationship ids. The three tables have
graphrag's column names, order and types (``ENTITY_SCHEMA``, ``RELATIONSHIP_SCHEMA``,
``TEXT_UNIT_SCHEMA``), so graphrag's readers and LightRAG-style tools load them as they are.
The extractor is the rule-based one (``extract.py``, no model) unless the settings name the
optional LLM extractor (``llm.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from curate.errors import ConfigError
from curate.graph.builder import (
    ENTITY_SCHEMA,
    RELATIONSHIP_SCHEMA,
    TEXT_UNIT_SCHEMA,
    EdgeRule,
    Graph,
    GraphBuilder,
)
from curate.graph.extract import Extractor, normalise
from curate.graph.llm import DEFAULT_TYPES
from curate.io.shards import write_json_atomic, write_parquet_atomic

__all__ = ["ENTITY_SCHEMA", "RELATIONSHIP_SCHEMA", "TEXT_UNIT_SCHEMA", "GraphSettings", "build_graph", "Graph", "GraphBuilder", "Extractor", "EdgeRule"]

PROVENANCE = ("chunk_index", "n_chunks", "char_start", "char_end")
"""Chunk columns written after graphrag's, in ``text_units.parquet``."""


class GraphLLMSettings(BaseModel):
    """The optional LLM extractor's endpoint and caps (``--extractor llm``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    base_url: str = Field(min_length=1, description="OpenAI-compatible endpoint root (POSTs to /chat/completions); no credentials in it.")
    model: str = Field(min_length=1, description="Model name sent with each request.")
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Name of the environment variable holding the API key (never the key).")
    cache_path: str | None = Field(None, description="SQLite file of answers, committed per answer: a rerun resumes without paying twice.")
    max_chunks: int | None = Field(None, ge=0, description="Most chunks sent to the model; the rest get no extraction (counted).")
    concurrency: int = Field(8, ge=1, le=256, description="Requests in flight.")
    max_tokens: int = Field(2000, ge=16, description="Most tokens per answer.")
    summarize: bool = Field(False, description="Ask the model for one description of an entity or edge described in several chunks (else the descriptions are joined).")
    max_summaries: int = Field(1000, ge=0, description="Most summary requests.")
    types: list[str] = Field(default_factory=lambda: list(DEFAULT_TYPES), min_length=1, description="Entity types named in the prompt.")
    max_failure_fraction: float = Field(0.1, ge=0.0, le=1.0, description="Share of failed requests (after retries) that stops the run.")

    def chat_settings(self) -> Any:
        from curate.augment.llm import ChatSettings

        return ChatSettings(
            base_url=self.base_url,
            model=self.model,
            api_key_env=self.api_key_env,
            max_tokens=self.max_tokens,
            temperature=0.0,
            concurrency=self.concurrency,
            cache_path=self.cache_path,
            max_failure_fraction=self.max_failure_fraction,
        )


class GraphSettings(BaseModel):
    """How the offline extractor finds entities and keeps edges (``curate graph`` flags)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    extractor: Literal["rules", "llm"] = Field("rules", description="`rules`: the offline extractor (default, no model); `llm`: entities and relationships from a chat endpoint (needs `llm`).")
    llm: GraphLLMSettings | None = Field(None, description="Endpoint and caps of the LLM extractor.")

    window: int = Field(0, ge=0, le=10, description="Sentences apart two mentions may be to co-occur (0: the same sentence).")
    min_count: int = Field(1, ge=1, description="Fewest sentence windows a pair must share to become an edge.")
    min_npmi: float = Field(0.0, ge=-1.0, le=1.0, description="Lowest normalised PMI of an edge (0: no more often together than by chance).")
    max_degree: int = Field(1000, ge=1, le=100_000, description="Most edges per entity: an edge must be among the best (NPMI, then count) of both its ends.")
    min_frequency: int = Field(1, ge=1, description="Fewest chunks an entity must occur in.")
    gazetteer: str | None = Field(None, description="File of known names and their types (JSON/YAML {TYPE: [names]} or TSV name<TAB>TYPE).")
    aliases: str | None = Field(None, description="File of aliases (JSON/YAML {canonical: [aliases]} or TSV alias<TAB>canonical).")
    batch_rows: int = Field(8192, ge=1, description="Chunks extracted at a time.")

    def rule_extractor(self) -> Extractor:
        """The extractor these settings describe (reads the gazetteer and alias files)."""
        gaz: dict[str, str] = {}
        if self.gazetteer:
            for typ, names in _read_groups(self.gazetteer, "--gazetteer").items():
                for name in names:
                    gaz[name] = typ.upper()
        aliases: dict[str, str] = {}
        if self.aliases:
            for canonical, names in _read_groups(self.aliases, "--aliases").items():
                for name in names:
                    aliases[normalise(name)] = normalise(canonical)
        return Extractor(gazetteer=gaz, aliases=aliases)

    @model_validator(mode="after")
    def _llm_given(self) -> GraphSettings:
        if self.extractor == "llm" and self.llm is None:
            raise ValueError("extractor: llm needs the endpoint (--base-url and --model)")
        return self

    def builder(self) -> Any:
        """The builder these settings describe; reads the files and checks the endpoint settings."""
        extractor = self.rule_extractor()
        if self.extractor == "llm":
            from curate.augment.llm import ChatClient
            from curate.graph.llm import LLMGraphBuilder

            assert self.llm is not None
            chat = self.llm.chat_settings()
            ChatClient(chat).close()  # refuses credentials in the URL and a missing key variable now
            return LLMGraphBuilder(
                chat,
                types=tuple(self.llm.types),
                max_chunks=self.llm.max_chunks,
                aliases=extractor.aliases,
                summarize=self.llm.summarize,
                max_summaries=self.llm.max_summaries,
            )
        return GraphBuilder(extractor, self.rule())

    def rule(self) -> EdgeRule:
        return EdgeRule(window=self.window, min_count=self.min_count, min_npmi=self.min_npmi, max_degree=self.max_degree)


def _read_groups(path: str, flag: str) -> dict[str, list[str]]:
    """A {group: [names]} file: JSON or YAML mapping, or TSV lines ``name<TAB>group``."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{flag}: {path} is not a file")
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() in (".json", ".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"{flag}: {path} is not valid JSON/YAML ({str(err).splitlines()[0]})") from None
        if not isinstance(data, dict) or not all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in data.values()):
            raise ConfigError(f"{flag}: {path} must map each key to a list of names, e.g. {{PRODUCT: [PostgreSQL, psql]}}")
        return {str(k): list(v) for k, v in data.items()}
    groups: dict[str, list[str]] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise ConfigError(f"{flag}: {path}:{n} must be `name<TAB>group`")
        groups.setdefault(parts[1].strip(), []).append(parts[0].strip())
    return groups


def build_graph(shards: list[Path], out: Path, settings: GraphSettings, top: int = 10, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write entities.parquet, relationships.parquet and text_units.parquet for chunk shards into
    ``out``; return the graph statistics, written with ``extra`` (what the command knows: document
    counts), the settings and the tables' row counts to ``out/graph_stats.json``."""
    builder = settings.builder()
    for shard in shards:
        frame = pl.read_parquet(shard, columns=["id", "text"])
        for start in range(0, frame.height, settings.batch_rows):
            part = frame.slice(start, settings.batch_rows)
            builder.add(part["id"].cast(pl.String), part["text"])
    graph = builder.build(min_frequency=settings.min_frequency, top=top)
    out.mkdir(parents=True, exist_ok=True)
    # temporary names, renamed when whole; a failed write (a full disk) is the OSError it stands for
    write_parquet_atomic(graph.entities, out / "entities.parquet")
    write_parquet_atomic(graph.relationships, out / "relationships.parquet")
    write_text_units(shards, graph, out / "text_units.parquet")
    stats = {
        **(extra or {}),
        **graph.stats,
        "tables": {"entities": graph.entities.height, "relationships": graph.relationships.height, "text_units": graph.unit_links.height},
        "settings": settings.model_dump(mode="json"),
    }
    write_json_atomic(stats, out / "graph_stats.json")
    return stats


def write_text_units(shards: list[Path], graph: Graph, path: Path) -> None:
    """graphrag's text_units table, one shard at a time, with curate's chunk provenance after it."""
    import pyarrow.parquet as pq

    writer: Any = None
    extra: list[str] | None = None
    offset = 0
    tmp = path.with_name(path.name + ".tmp")
    try:
        for shard in shards:
            frame = pl.read_parquet(shard)
            links = graph.unit_links.slice(offset, frame.height)
            if extra is None:  # the first shard's columns; others get nulls where they lack one
                extra = [c for c in PROVENANCE if c in frame.columns] + [
                    c for c in frame.columns if c not in TEXT_UNIT_SCHEMA and c not in PROVENANCE and not c.startswith("_")
                ]
            frame = frame.with_columns([pl.lit(None).alias(c) for c in extra if c not in frame.columns])
            doc = pl.col("document_id") if "document_id" in frame.columns else pl.col("id")
            n_tok = pl.col("n_tokens") if "n_tokens" in frame.columns else pl.col("text").str.count_matches(r"\S+")
            units = frame.with_columns(
                pl.int_range(offset, offset + frame.height, dtype=pl.Int64).alias("human_readable_id"),
                n_tok.cast(pl.Int64).alias("n_tokens"),
                doc.cast(pl.String).alias("document_id"),
                links["entity_ids"].alias("entity_ids"),
                links["relationship_ids"].alias("relationship_ids"),
                pl.lit([], dtype=pl.List(pl.String)).alias("covariate_ids"),
            ).select([pl.col(c).cast(t) for c, t in TEXT_UNIT_SCHEMA.items()] + extra)
            table = units.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table.cast(writer.schema) if table.schema != writer.schema else table)
            offset += frame.height
        if writer is None:
            write_parquet_atomic(pl.DataFrame(schema=TEXT_UNIT_SCHEMA), tmp)
    except BaseException:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)  # no half-written table left beside the others
        raise
    if writer is not None:
        writer.close()
    tmp.replace(path)
