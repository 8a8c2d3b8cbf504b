"""The whole-corpus step: mentions -> alias-merged entities -> co-occurrence edges pruned by NPMI.

Edges come from co-occurrence inside a window of sentences (``window`` = 0: the same sentence;
1: a sentence and the next...) rather than the whole chunk, which is what makes graphrag's fast
mode so noisy (it links every noun-phrase pair of a chunk). A pair is kept when it co-occurs in at
least ``min_count`` windows and its normalised PMI over windows is at least ``min_npmi``
(Bouma 2009: ``ln(p(a,b) / (p(a) p(b))) / -ln p(a,b)``, in [-1, 1]; 0 = independent), and then only
when it is among the ``max_degree`` best edges (NPMI, then count) of *both* its ends, so no node has
more than ``max_degree`` edges.

State is compact: per mention three integers (chunk, window, entity) and a flag; surface forms
and types are counted per entity. Texts are never kept.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from curate.graph.extract import Extractor

ENTITY_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "human_readable_id": pl.Int64(),
    "title": pl.String(),
    "type": pl.String(),
    "description": pl.String(),
    "text_unit_ids": pl.List(pl.String()),
    "frequency": pl.Int64(),
    "degree": pl.Int64(),
}
"""graphrag's ``entities`` table (``ENTITIES_FINAL_COLUMNS``), in its column order."""
RELATIONSHIP_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "human_readable_id": pl.Int64(),
    "source": pl.String(),
    "target": pl.String(),
    "description": pl.String(),
    "weight": pl.Float64(),
    "combined_degree": pl.Int64(),
    "text_unit_ids": pl.List(pl.String()),
}
"""graphrag's ``relationships`` table (``RELATIONSHIPS_FINAL_COLUMNS``); ``npmi`` follows it."""
TEXT_UNIT_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "human_readable_id": pl.Int64(),
    "text": pl.String(),
    "n_tokens": pl.Int64(),
    "document_id": pl.String(),
    "entity_ids": pl.List(pl.String()),
    "relationship_ids": pl.List(pl.String()),
    "covariate_ids": pl.List(pl.String()),
}
"""graphrag's ``text_units`` table (``TEXT_UNITS_FINAL_COLUMNS`` less the optional conversation
columns); curate's chunk provenance (``chunk_index``, ``char_start``...) follows it."""


@dataclass(frozen=True)
class EdgeRule:
    """How co-occurrences become edges."""

    window: int = 0
    scope: str = "sentence"
    """``sentence``: windows of ``window`` sentences; ``chunk``: the whole chunk is one window
    (graphrag's fast mode links every pair of a chunk: the benchmark's baseline)."""
    min_count: int = 1
    min_npmi: float = 0.0
    max_degree: int = 1000


def hex_ids(texts: pl.Series) -> pl.Series:
    """32-hex-digit ids (the shape of graphrag's) from two stable 64-bit hashes (XXH64) of each text."""
    import pyarrow as pa

    from curate.hashing import hash_strings

    n = len(texts)
    if not n:
        return pl.Series("id", [], dtype=pl.String)
    both = np.stack([hash_strings(texts, 1), hash_strings(texts, 2)], axis=1).astype(">u8")
    raw = pa.Array.from_buffers(pa.binary(16), n, [None, pa.py_buffer(both.tobytes())])
    return pl.Series("id", pl.from_arrow(raw)).cast(pl.Binary).bin.encode("hex").alias("id")


class _Surfaces(Mapping[str, list[str]]):
    """Entity id -> its surface forms, sorted when asked (most callers never ask)."""

    def __init__(self, by_id: dict[str, set[str]]) -> None:
        self._by_id = by_id

    def __getitem__(self, key: str) -> list[str]:
        return sorted(self._by_id[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)


@dataclass
class Graph:
    """The built graph: entities and relationships in graphrag's schema, and per-chunk links."""

    entities: pl.DataFrame
    relationships: pl.DataFrame
    unit_links: pl.DataFrame
    """chunk (int, order of :meth:`GraphBuilder.add`), entity_ids, relationship_ids."""
    stats: dict[str, Any]
    surfaces: Mapping[str, list[str]] = field(default_factory=dict)
    """Entity id -> every surface form merged into it (sorted)."""


@dataclass
class GraphBuilder:
    """Feed chunks with :meth:`add` (any number of calls), then :meth:`build` once."""

    extractor: Extractor = field(default_factory=Extractor)
    rule: EdgeRule = field(default_factory=EdgeRule)

    def __post_init__(self) -> None:
        self._keys: dict[str, int] = {}
        self._surfaces: Counter[tuple[int, str]] = Counter()
        self._types: Counter[tuple[int, str]] = Counter()
        self._acronyms: Counter[tuple[str, str]] = Counter()
        self._chunk: list[np.ndarray] = []
        self._window: list[np.ndarray] = []
        self._entity: list[np.ndarray] = []
        self._opener: list[np.ndarray] = []
        self._chunk_id_parts: list[pl.Series] = []  # Arrow strings, not Python objects
        self.n_chunks = 0
        self._windows = 0

    def add(self, chunk_ids: list[str] | pl.Series, texts: pl.Series) -> None:
        """Extract the mentions of a batch of chunks and keep them as integers."""
        first = self.n_chunks
        self._chunk_id_parts.append(pl.Series("cid", chunk_ids, dtype=pl.String))
        self.n_chunks += len(chunk_ids)
        mentions, n_sent, pairs = self.extractor.extract(texts)
        for acr, long in pairs:
            self._acronyms[(acr, long)] += 1
        if not mentions.height:
            self._windows += int(n_sent.sum())
            return
        keys = self._keys
        for k in mentions["key"].unique(maintain_order=True).to_list():
            keys.setdefault(k, len(keys))
        mentions = mentions.with_columns(pl.col("key").replace_strict(keys, return_dtype=pl.UInt32).alias("k"))
        for k, surface, n in mentions.group_by("k", "surface").len().iter_rows():
            self._surfaces[(k, surface)] += n
        for k, t, n in mentions.group_by("k", "type").len().iter_rows():
            self._types[(k, t)] += n
        # sentence numbers become corpus-wide window numbers: the sentences of earlier texts first
        offset = (n_sent.cum_sum() - n_sent).cast(pl.UInt32) + self._windows
        self._windows += int(n_sent.sum())
        rows = mentions["row"].to_numpy()
        self._chunk.append((rows + first).astype(np.uint32))
        self._window.append((offset.to_numpy()[rows] + mentions["sentence"].to_numpy()).astype(np.uint32))
        self._entity.append(mentions["k"].to_numpy().astype(np.uint32))
        self._opener.append(mentions["opener"].to_numpy().astype(np.bool_))

    # ------------------------------------------------------------------ global

    def _merge_map(self) -> np.ndarray:
        """Entity id -> id after acronym <-> expansion merging (defined in the text)."""
        n = len(self._keys)
        target = np.arange(n, dtype=np.uint32)
        best: dict[str, tuple[int, str]] = {}
        for (acr, long), cnt in self._acronyms.items():
            if acr in self._keys and long in self._keys and (acr not in best or cnt > best[acr][0]):
                best[acr] = (cnt, long)
        for acr, (_, long) in best.items():
            target[self._keys[acr]] = self._keys[long]
        return target

    def mentions(self) -> pl.DataFrame:
        """All mentions after alias merging and the sentence-opener rule: chunk, window, entity."""
        merged = self._merge_map()
        m = pl.DataFrame(
            {
                "chunk": np.concatenate(self._chunk) if self._chunk else np.zeros(0, np.uint32),
                "window": np.concatenate(self._window) if self._window else np.zeros(0, np.uint32),
                "entity": merged[np.concatenate(self._entity)] if self._entity else np.zeros(0, np.uint32),
                "opener": np.concatenate(self._opener) if self._opener else np.zeros(0, np.bool_),
            }
        )
        only_openers = m.group_by("entity").agg(pl.col("opener").all().alias("o")).filter(pl.col("o"))["entity"].to_numpy()
        # a span seen only opening sentences whose words after the first are an entity seen elsewhere
        # starts with an ordinary word ("Mostly GiST"): it is that entity
        names = {v: k for k, v in self._keys.items()}
        remap = {}
        for e in only_openers.tolist():
            head, _, tail = names[e].partition(" ")
            if tail and tail in self._keys and head.isalpha():
                remap[e] = int(merged[self._keys[tail]])
        if remap:
            m = m.with_columns(pl.col("entity").replace(remap).cast(pl.UInt32))
        # a capitalised word seen only opening sentences is an ordinary word (Specifies, Returns)
        plain = self._plain_words()
        if plain.size:
            drop = np.intersect1d(only_openers, plain)
            m = m.filter(~pl.col("entity").is_in(pl.Series(drop, dtype=pl.UInt32).implode()))
        return m.select("chunk", "window", "entity").unique(maintain_order=True)

    def _plain_words(self) -> np.ndarray:
        """Entities whose every surface form is one capitalised word with no other capitals."""
        mixed: set[int] = set()
        plain: set[int] = set()
        for (k, s), _ in self._surfaces.items():
            if " " not in s and s[:1].isupper() and s[1:].islower() and s.isalpha():
                plain.add(k)
            else:
                mixed.add(k)
        return np.asarray(sorted(plain - mixed), dtype=np.uint32)

    def pairs(self, m: pl.DataFrame) -> pl.DataFrame:
        """Co-occurring pairs (a < b): windows together, windows of a and of b, chunks together."""
        w = self.rule.window
        if self.rule.scope == "chunk":
            m = m.with_columns(pl.col("chunk").alias("window"))
        elif w:
            # a mention in sentence t is in windows t-w .. t of its own chunk
            first = m.group_by("chunk").agg(pl.col("window").min().alias("first"))
            m = (
                m.join(first, on="chunk")
                .with_columns(pl.int_ranges(pl.max_horizontal(pl.col("window").cast(pl.Int64) - w, pl.col("first")), pl.col("window").cast(pl.Int64) + 1).alias("window"))
                .explode("window")
                .select("chunk", pl.col("window").cast(pl.UInt32), "entity")
                .unique()
            )
        m = m.select("chunk", "window", "entity").unique()
        count = m.group_by("entity").agg(pl.len().alias("c"))
        joined = m.join(m.select("window", pl.col("entity").alias("other")), on="window").filter(pl.col("entity") < pl.col("other"))
        pairs = joined.group_by("entity", "other").agg(pl.len().alias("n"), pl.col("chunk").unique().sort().alias("chunks"))
        pairs = pairs.join(count, on="entity").join(count.rename({"entity": "other", "c": "c_other"}), on="other")
        total = float(max(self.n_chunks if self.rule.scope == "chunk" else self._windows, 1))
        p_ab = pl.col("n") / total
        npmi = pl.when(p_ab >= 1.0).then(1.0).otherwise(
            (p_ab / ((pl.col("c") / total) * (pl.col("c_other") / total))).log() / -(p_ab.log())
        )
        return pairs.with_columns(npmi.alias("npmi"))

    def prune(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """Count and NPMI thresholds, then at most ``max_degree`` edges per node (mutual top-k)."""
        r = self.rule
        kept = pairs.filter((pl.col("n") >= r.min_count) & (pl.col("npmi") >= r.min_npmi))
        if not kept.height:
            return kept
        both = pl.concat(
            [
                kept.select(pl.col("entity").alias("node"), "entity", "other", "npmi", "n"),
                kept.select(pl.col("other").alias("node"), "entity", "other", "npmi", "n"),
            ]
        )
        # only nodes over the cap need ranking (with the default cap, a few hubs)
        over = both.group_by("node").len().filter(pl.col("len") > r.max_degree).select("node")
        if not over.height:
            return kept
        ranked = (
            both.join(over, on="node", how="semi")
            .sort(["node", "npmi", "n", "entity", "other"], descending=[False, True, True, False, False])
            .with_columns(pl.int_range(pl.len()).over("node").alias("rank"))
        )
        drop = ranked.filter(pl.col("rank") >= r.max_degree).select("entity", "other").unique()
        return kept.join(drop, on=["entity", "other"], how="anti", maintain_order="left")

    def build(self, min_frequency: int = 1, top: int = 10) -> Graph:
        """Entities, relationships and per-chunk links in graphrag's schema, and statistics."""
        m = self.mentions()
        freq = m.group_by("entity").agg(pl.col("chunk").unique().sort().alias("chunks"))
        freq = freq.with_columns(pl.col("chunks").list.len().alias("frequency")).filter(pl.col("frequency") >= min_frequency)
        m = m.join(freq.select("entity"), on="entity", how="semi")
        edges = self.prune(self.pairs(m))
        names = {v: k for k, v in self._keys.items()}
        title: dict[int, str] = {}
        # the commonest form names the entity; on a tie, one not in capitals (PostgreSQL over POSTGRESQL)
        for (k, s), _n in sorted(self._surfaces.items(), key=lambda x: (-x[1], x[0][1].isupper(), x[0][1])):
            title.setdefault(k, s)
        # merged acronyms: their surfaces count for the expansion, the expansion's form is the title
        merged = self._merge_map()
        aliases: dict[int, set[str]] = {}
        for (k, s) in self._surfaces:
            aliases.setdefault(int(merged[k]), set()).add(s)
        typ: dict[int, str] = {}
        for (k, t), _n in sorted(self._types.items(), key=lambda x: (-x[1], x[0][1])):
            typ.setdefault(int(merged[k]), t)
        degree = (
            pl.concat([edges.select(pl.col("entity").alias("e")), edges.select(pl.col("other").alias("e"))]).group_by("e").len()
            if edges.height
            else pl.DataFrame(schema={"e": pl.UInt32, "len": pl.UInt32})
        )
        deg = dict(zip(degree["e"].to_list(), degree["len"].to_list(), strict=True))
        freq = freq.sort(["frequency", "entity"], descending=[True, False])
        order = freq["entity"].to_list()
        info = pl.DataFrame(
            {
                "entity": freq["entity"],
                "name": [names[e] for e in order],
                "title": [title[e] for e in order],
                "degree": [deg.get(e, 0) for e in order],
            },
            schema={"entity": pl.UInt32, "name": pl.String, "title": pl.String, "degree": pl.Int64},
        )
        info = info.with_columns(hex_ids("entity:" + info["name"]).alias("id"))
        ent_ids = dict(zip(order, info["id"].to_list(), strict=True))
        cid_series = pl.concat(self._chunk_id_parts) if self._chunk_id_parts else pl.Series("cid", [], dtype=pl.String)
        entities = pl.DataFrame(
            {
                "id": info["id"],
                "human_readable_id": pl.int_range(0, freq.height, eager=True),
                "title": info["title"],
                "type": [typ.get(e, "NAME") for e in order],
                "description": [_describe(title[e], aliases.get(e, set())) for e in order],
                "text_unit_ids": _id_lists(freq["chunks"], cid_series),
                "frequency": freq["frequency"],
                "degree": info["degree"],
            },
            schema=ENTITY_SCHEMA,
        )
        edges = edges.sort(["n", "npmi", "entity", "other"], descending=[True, True, False, False])
        side = info.select("entity", "name", "title", "degree")
        ends = edges.join(side, on="entity", how="left", maintain_order="left").join(
            side.rename({"entity": "other", "name": "name_b", "title": "title_b", "degree": "degree_b"}),
            on="other",
            how="left",
            maintain_order="left",
        )
        rel_ids = hex_ids("relationship:" + ends["name"] + "\x00" + ends["name_b"])
        relationships = ends.select(
            rel_ids.alias("id"),
            pl.int_range(pl.len(), dtype=pl.Int64).alias("human_readable_id"),
            pl.col("title").alias("source"),
            pl.col("title_b").alias("target"),
            pl.format(
                "{} and {} occur together in {} sentence window(s) (NPMI {})",
                "title",
                "title_b",
                "n",
                pl.col("npmi").round(2),
            ).alias("description"),
            pl.col("n").cast(pl.Float64).alias("weight"),
            (pl.col("degree") + pl.col("degree_b")).alias("combined_degree"),
            _id_lists(edges["chunks"], cid_series).alias("text_unit_ids"),
            pl.col("npmi").cast(pl.Float64),
        ).cast(RELATIONSHIP_SCHEMA)  # type: ignore[arg-type]
        unit_ent = m.select("chunk", "entity").unique().with_columns(
            pl.col("entity").replace_strict(ent_ids, return_dtype=pl.String).alias("eid")
        ).group_by("chunk").agg(pl.col("eid").sort().alias("entity_ids"))
        unit_rel = (
            pl.DataFrame({"rid": rel_ids, "chunk": edges["chunks"]}, schema={"rid": pl.String, "chunk": pl.List(pl.UInt32)})
            .explode("chunk")
            .group_by("chunk")
            .agg(pl.col("rid").sort().alias("relationship_ids"))
        )
        links = (
            pl.DataFrame({"chunk": pl.arange(0, self.n_chunks, eager=True).cast(pl.UInt32)})
            .join(unit_ent, on="chunk", how="left", maintain_order="left")
            .join(unit_rel, on="chunk", how="left", maintain_order="left")
            .with_columns(pl.col("entity_ids").fill_null([]), pl.col("relationship_ids").fill_null([]))
        )
        stats = graph_stats(entities, relationships, links, top)
        surfaces = _Surfaces({ent_ids[e]: aliases.get(e, set()) for e in ent_ids})
        return Graph(entities, relationships, links, stats, surfaces)


def _id_lists(lists: pl.Series, ids: pl.Series) -> pl.Series:
    """Lists of chunk numbers -> lists of chunk ids, in Polars (no Python list per row)."""
    if not len(lists):
        return pl.Series("text_unit_ids", [], dtype=pl.List(pl.String))
    ex = pl.DataFrame({"r": pl.int_range(0, len(lists), eager=True), "c": lists}).explode("c")
    ex = ex.with_columns(ids.gather(ex["c"].fill_null(0)).alias("cid")).with_columns(
        pl.when(pl.col("c").is_null()).then(None).otherwise(pl.col("cid")).alias("cid")
    )
    out = ex.group_by("r", maintain_order=True).agg(pl.col("cid").drop_nulls())
    return out["cid"].alias("text_unit_ids")


def _describe(title: str, surfaces: set[str]) -> str:
    others = sorted(s for s in surfaces if s != title)[:8]
    return f"{title}; also written " + ", ".join(others) if others else title


_NUM = re.compile(r"\d+")


def graph_stats(entities: pl.DataFrame, relationships: pl.DataFrame, links: pl.DataFrame, top: int = 10) -> dict[str, Any]:
    """Counts, degree distribution, top entities and the share of chunks with an entity."""
    deg = entities["degree"]
    buckets = [0, 1, 2, 3, 5, 10, 25, 50, 100]
    hist: dict[str, int] = {}
    for lo, hi in zip(buckets, [*buckets[1:], None], strict=True):
        sel = (deg >= lo) if hi is None else ((deg >= lo) & (deg < hi))
        label = f"{lo}+" if hi is None else (str(lo) if hi == lo + 1 else f"{lo}-{hi - 1}")
        hist[label] = int(sel.sum())
    chunks = links.height
    with_entity = int((links["entity_ids"].list.len() > 0).sum()) if chunks else 0
    top_rows = entities.sort(["degree", "frequency", "title"], descending=[True, True, False]).head(top)
    return {
        "chunks": chunks,
        "entities": entities.height,
        "relationships": relationships.height,
        "chunks_with_entity": with_entity,
        "chunks_with_entity_share": round(with_entity / chunks, 4) if chunks else 0.0,
        "degree_mean": round(float(deg.mean() or 0.0), 3) if entities.height else 0.0,
        "degree_max": int(deg.max() or 0) if entities.height else 0,
        "isolated_entities": int((deg == 0).sum()),
        "degree_histogram": hist,
        "top_entities": [
            {"title": t, "type": ty, "degree": int(d), "frequency": int(f)}
            for t, ty, d, f in top_rows.select("title", "type", "degree", "frequency").iter_rows()
        ],
    }
