"""The optional LLM extractor: entities and relationships per chunk as JSON from a chat endpoint.

Each chunk is sent once (``max_chunks`` caps how many; the rest get no extraction and are counted)
through curate's chat client (``curate.augment.llm``: bounded concurrency, retries, a failure
threshold, and an SQLite cache committed per answer, so a rerun with the same ``cache_path``
resumes without paying twice). The answer must be one JSON object
``{"entities": [{"name", "type", "description"}], "relationships": [{"source", "target",
"description", "strength"}]}``; anything else (no JSON, wrong shapes) counts as a parse failure
and the chunk contributes nothing. Names are merged as in the offline extractor (case, plural,
the alias file). An entity or relationship described in several chunks gets one description:
the distinct ones joined, or, with ``summarize``, one written by the model (at most
``max_summaries`` such requests). State kept: per chunk the parsed names and descriptions.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from curate.graph.builder import ENTITY_SCHEMA, RELATIONSHIP_SCHEMA, Graph, graph_stats, hex_ids
from curate.graph.extract import normalise

PROMPT = """You extract a knowledge graph from text.
Find the named entities in the text below (types: {types}) and the relationships the text states between them.
Answer with one JSON object and nothing else:
{{"entities": [{{"name": "...", "type": "one of the types", "description": "what the text says about it"}}],
 "relationships": [{{"source": "entity name", "target": "entity name", "description": "how they are related", "strength": 1-10}}]}}
Use names exactly as written in the text. Only relationships between entities you listed.

Text:
{text}"""

SUMMARY_PROMPT = """Write one or two sentences that combine these descriptions of {name}, without adding facts:
{descriptions}"""

DEFAULT_TYPES = ("organization", "person", "product", "technology", "standard", "location", "event")


def parse_answer(text: str | None) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str, float]]] | None:
    """(entities, relationships) of an answer; None when it holds no usable JSON object.

    Tolerates a Markdown code fence around the object; drops items with missing or non-string
    fields, and relationships whose ends are not among the answer's entities.
    """
    if not text:
        return None
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("entities", []), list) or not isinstance(data.get("relationships", []), list):
        return None
    ents: list[tuple[str, str, str]] = []
    for item in data.get("entities", []):
        if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"].strip():
            typ = item.get("type") if isinstance(item.get("type"), str) else ""
            desc = item.get("description") if isinstance(item.get("description"), str) else ""
            ents.append((item["name"].strip(), typ.strip().upper() or "NAME", desc.strip()))
    names = {normalise(n) for n, _, _ in ents}
    rels: list[tuple[str, str, str, float]] = []
    for item in data.get("relationships", []):
        if not isinstance(item, dict):
            continue
        src, dst = item.get("source"), item.get("target")
        if not (isinstance(src, str) and isinstance(dst, str)) or normalise(src) not in names or normalise(dst) not in names:
            continue
        if normalise(src) == normalise(dst):
            continue
        strength = item.get("strength", 1)
        weight = float(strength) if isinstance(strength, int | float) and not isinstance(strength, bool) and strength > 0 else 1.0
        desc = item.get("description") if isinstance(item.get("description"), str) else ""
        rels.append((src.strip(), dst.strip(), desc.strip(), weight))
    return ents, rels


@dataclass
class LLMGraphBuilder:
    """Same interface as :class:`curate.graph.builder.GraphBuilder`: ``add`` batches, ``build`` once."""

    settings: Any
    """A ``curate.augment.llm.ChatSettings``."""
    types: tuple[str, ...] = DEFAULT_TYPES
    max_chunks: int | None = None
    aliases: dict[str, str] = field(default_factory=dict)
    summarize: bool = False
    max_summaries: int = 1000

    def __post_init__(self) -> None:
        self._ids: list[pl.Series] = []
        self.n_chunks = 0
        self.sent = 0
        self.counters: Counter[str] = Counter()
        # per key: surfaces, types, descriptions, chunks; per pair of keys: descriptions, weight, chunks
        self._surface: dict[str, Counter[str]] = {}
        self._type: dict[str, Counter[str]] = {}
        self._desc: dict[str, list[str]] = {}
        self._chunks: dict[str, set[int]] = {}
        self._rel_desc: dict[tuple[str, str], list[str]] = {}
        self._rel_weight: Counter[tuple[str, str]] = Counter()
        self._rel_chunks: dict[tuple[str, str], set[int]] = {}

    def _key(self, name: str) -> str:
        k = normalise(name)
        return self.aliases.get(k, k)

    def add(self, chunk_ids: list[str] | pl.Series, texts: pl.Series) -> None:
        """Send the batch's chunks (within the cap) and keep what the answers say."""
        from curate.augment.llm import ChatClient

        first = self.n_chunks
        self._ids.append(pl.Series("cid", chunk_ids, dtype=pl.String))
        self.n_chunks += len(texts)
        todo = [(first + i, t) for i, t in enumerate(texts.to_list()) if t]
        if self.max_chunks is not None:
            room = max(0, self.max_chunks - self.sent)
            self.counters["llm_chunks_over_cap"] += max(0, len(todo) - room)
            todo = todo[:room]
        if not todo:
            return
        self.sent += len(todo)
        client = ChatClient(self.settings)
        answers = client.complete_many([PROMPT.format(types=", ".join(self.types), text=t) for _, t in todo])
        for name, n in client.stats.items():
            self.counters[f"llm_{name}"] += n
        for (c, _), answer in zip(todo, answers, strict=True):
            if answer is None:
                self.counters["llm_failed_chunks"] += 1
                continue
            parsed = parse_answer(answer)
            if parsed is None:
                self.counters["llm_unparsed_chunks"] += 1
                continue
            self.counters["llm_parsed_chunks"] += 1
            ents, rels = parsed
            for name, typ, desc in ents:
                k = self._key(name)
                self._surface.setdefault(k, Counter())[name] += 1
                self._type.setdefault(k, Counter())[typ] += 1
                if desc and desc not in self._desc.setdefault(k, []):
                    self._desc[k].append(desc)
                self._chunks.setdefault(k, set()).add(c)
            for src, dst, desc, weight in rels:
                a, b = sorted((self._key(src), self._key(dst)))
                if a == b:
                    continue
                if desc and desc not in self._rel_desc.setdefault((a, b), []):
                    self._rel_desc[(a, b)].append(desc)
                self._rel_weight[(a, b)] += weight
                self._rel_chunks.setdefault((a, b), set()).add(c)

    def _descriptions(self, items: list[tuple[str, list[str]]]) -> list[str]:
        """One description per item: the only one, or several joined, or summarised (capped)."""
        out = [" ".join(d) if len(d) <= 1 or not self.summarize else "" for _, d in items]
        todo = [i for i, (_, d) in enumerate(items) if self.summarize and len(d) > 1][: self.max_summaries]
        skipped = {i for i, (_, d) in enumerate(items) if self.summarize and len(d) > 1} - set(todo)
        for i in skipped:
            out[i] = " ".join(items[i][1])
        if todo:
            from curate.augment.llm import ChatClient

            client = ChatClient(self.settings)
            prompts = [SUMMARY_PROMPT.format(name=items[i][0], descriptions="\n".join(f"- {d}" for d in items[i][1])) for i in todo]
            for i, answer in zip(todo, client.complete_many(prompts), strict=True):
                out[i] = answer.strip() if answer else " ".join(items[i][1])
            self.counters["llm_summaries"] += len(todo)
        return out

    def build(self, min_frequency: int = 1, top: int = 10) -> Graph:
        """Entities, relationships and per-chunk links in graphrag's schema."""
        cid = pl.concat(self._ids) if self._ids else pl.Series("cid", [], dtype=pl.String)
        keys = sorted((k for k, cs in self._chunks.items() if len(cs) >= min_frequency), key=lambda k: (-len(self._chunks[k]), k))
        kept = set(keys)
        pairs = sorted((p for p in self._rel_weight if p[0] in kept and p[1] in kept), key=lambda p: (-self._rel_weight[p], p))
        degree: Counter[str] = Counter()
        for a, b in pairs:
            degree[a] += 1
            degree[b] += 1
        title = {k: sorted(self._surface[k].items(), key=lambda x: (-x[1], x[0].isupper(), x[0]))[0][0] for k in keys}
        ent_ids = hex_ids(pl.Series(["entity:" + k for k in keys], dtype=pl.String))
        eid = dict(zip(keys, ent_ids.to_list(), strict=True))
        ent_desc = self._descriptions([(title[k], self._desc.get(k, [])) for k in keys])
        entities = pl.DataFrame(
            {
                "id": ent_ids,
                "human_readable_id": list(range(len(keys))),
                "title": [title[k] for k in keys],
                "type": [self._type[k].most_common(1)[0][0] for k in keys],
                "description": ent_desc,
                "text_unit_ids": [[cid[c] for c in sorted(self._chunks[k])] for k in keys],
                "frequency": [len(self._chunks[k]) for k in keys],
                "degree": [degree[k] for k in keys],
            },
            schema=ENTITY_SCHEMA,
        )
        rel_ids = hex_ids(pl.Series(["relationship:" + a + "\x00" + b for a, b in pairs], dtype=pl.String))
        rel_desc = self._descriptions([(f"{title[a]} and {title[b]}", self._rel_desc.get((a, b), [])) for a, b in pairs])
        relationships = pl.DataFrame(
            {
                "id": rel_ids,
                "human_readable_id": list(range(len(pairs))),
                "source": [title[a] for a, _ in pairs],
                "target": [title[b] for _, b in pairs],
                "description": rel_desc,
                "weight": [float(self._rel_weight[p]) for p in pairs],
                "combined_degree": [degree[a] + degree[b] for a, b in pairs],
                "text_unit_ids": [[cid[c] for c in sorted(self._rel_chunks[p])] for p in pairs],
            },
            schema=RELATIONSHIP_SCHEMA,
        )
        per_ent: dict[int, list[str]] = {}
        for k in keys:
            for c in self._chunks[k]:
                per_ent.setdefault(c, []).append(eid[k])
        per_rel: dict[int, list[str]] = {}
        for p, r in zip(pairs, rel_ids.to_list(), strict=True):
            for c in self._rel_chunks[p]:
                per_rel.setdefault(c, []).append(r)
        links = pl.DataFrame(
            {
                "chunk": pl.arange(0, self.n_chunks, eager=True).cast(pl.UInt32),
                "entity_ids": [sorted(per_ent.get(c, [])) for c in range(self.n_chunks)],
                "relationship_ids": [sorted(per_rel.get(c, [])) for c in range(self.n_chunks)],
            },
            schema={"chunk": pl.UInt32, "entity_ids": pl.List(pl.String), "relationship_ids": pl.List(pl.String)},
        )
        stats = graph_stats(entities, relationships, links, top)
        stats["llm"] = dict(sorted(self.counters.items()))
        surfaces = {eid[k]: sorted(self._surface[k]) for k in keys}
        return Graph(entities, relationships, links, stats, surfaces)
