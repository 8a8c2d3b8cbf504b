"""Offline graph extraction against a hand-labelled gold set, and against graphrag's fast-mode rule.

Usage: python benchmarks/graph/bench_graph.py [--real PATH] [--rounds 3] [--json OUT]

Quality: every gold passage (tests/data/graph_gold/gold.txt, 204 sentences) is one chunk, built into
one graph together with a context corpus (the example corpus' PostgreSQL manual pages and, when
``--real`` exists, the GNU info manuals of ../shared/data/real_docs.parquet; pages the gold set
was taken from are left out), so that NPMI sees corpus statistics. Entities and edges of the gold
chunks are scored against the labels (forms compared case- and plural-insensitively).
The baseline links every pair of entities of a chunk (graphrag's fast mode), from the same
mentions, unpruned.

Speed: chunks/s on one core (POLARS_MAX_THREADS=1, CPU time of this process) for the context
corpus chunked at 300 and 1200 cl100k tokens, extraction plus the global step; median of rounds.
"""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")

import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from gold import Passage, Score, read_gold, score_passage  # noqa: E402

from curate.graph import EdgeRule, Extractor, GraphBuilder  # noqa: E402
from curate.graph.extract import normalise  # noqa: E402

ROOT = Path(__file__).parents[2]
MANUAL = ROOT / "examples" / "corpus" / "manual"
REAL = ROOT.parent / "shared" / "data" / "real_docs.parquet"


def context(passages: list[Passage], real: Path | None) -> list[str]:
    """Pages of the same manuals, without those the gold passages come from."""
    skip = {p.origin.split("/", 1)[1] for p in passages}
    texts: list[str] = []
    seen: set[str] = set()
    for f in sorted(MANUAL.glob("*.jsonl.gz")):
        with gzip.open(f, "rt", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                    continue
                page = str(row.get("page", ""))
                if page in skip or row["text"] in seen:
                    continue
                seen.add(row["text"])
                texts.append(row["text"])
    if real is not None and real.is_file():
        gnu = pl.read_parquet(real, columns=["text", "source", "origin"]).filter(pl.col("source") == "gnu_info")
        gnu = gnu.filter(~pl.col("origin").is_in(sorted(skip)) & ~pl.col("origin").str.starts_with("python3.11"))
        texts += gnu["text"].to_list()
    return texts


def build(texts: list[str], rule: EdgeRule) -> tuple[GraphBuilder, object]:
    b = GraphBuilder(Extractor(), rule)
    ids = [f"c{i}" for i in range(len(texts))]
    for start in range(0, len(texts), 8192):
        b.add(ids[start : start + 8192], pl.Series(texts[start : start + 8192], dtype=pl.String))
    return b, b.build()


def evaluate(passages: list[Passage], ctx: list[str], rule: EdgeRule) -> dict[str, object]:
    texts = [p.text for p in passages] + ctx
    _, g = build(texts, rule)
    ents, rels = Score(), Score()
    ent = g.entities.select("id", "text_unit_ids").explode("text_unit_ids")  # type: ignore[attr-defined]
    rel = g.relationships.select("source", "target", "text_unit_ids").explode("text_unit_ids")  # type: ignore[attr-defined]
    by_title = {r[0]: g.surfaces[r[1]] for r in g.entities.select("title", "id").iter_rows()}  # type: ignore[attr-defined]
    for i, p in enumerate(passages):
        cid = f"c{i}"
        e_ids = ent.filter(pl.col("text_unit_ids") == cid)["id"].to_list()
        edges = rel.filter(pl.col("text_unit_ids") == cid).select("source", "target").rows()
        score_passage(p, [g.surfaces[e] for e in e_ids], [(by_title[a], by_title[b]) for a, b in edges], normalise, ents, rels)  # type: ignore[attr-defined]
    return {
        "entities": {"pred": ents.pred, "correct": ents.pred_ok, "gold": ents.gold, "found": ents.gold_found, "precision": round(ents.precision, 3), "recall": round(ents.recall, 3), "f1": round(ents.f1, 3)},
        "relations": {"pred": rels.pred, "correct": rels.pred_ok, "gold": rels.gold, "found": rels.gold_found, "precision": round(rels.precision, 3), "recall": round(rels.recall, 3), "f1": round(rels.f1, 3)},
        "graph": {"entities": g.stats["entities"], "relationships": g.stats["relationships"], "chunks": g.stats["chunks"]},  # type: ignore[attr-defined]
    }


def speed(ctx: list[str], max_tokens: int, rounds: int) -> dict[str, float]:
    from curate.chunk import chunk_spans
    from curate.tokenize import make_counter

    spans = chunk_spans(ctx, make_counter("cl100k_base"), max_tokens, max_tokens // 10)
    chunks = [ctx[s.doc][s.start : s.end] for s in spans]
    mb = sum(len(c.encode()) for c in chunks) / 1e6
    cpu: list[float] = []
    for _ in range(rounds):
        t0 = time.process_time()
        build(chunks, EdgeRule())
        cpu.append(time.process_time() - t0)
    med = statistics.median(cpu)
    return {"max_tokens": max_tokens, "chunks": len(chunks), "mb": round(mb, 2), "cpu_s": round(med, 3), "chunks_per_s_core": round(len(chunks) / med), "mb_per_s_core": round(mb / med, 2)}


def graphrag_load(python: Path) -> object:
    """`curate graph` on the example corpus, then graphrag's own readers on its tables (its venv)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "graph"
        cmd = [sys.executable, "-m", "curate", "graph", str(MANUAL), "-o", str(out), "--max-tokens", "300", "--overlap", "30", "-q"]
        subprocess.run(cmd, check=True)
        run = subprocess.run([str(python), str(Path(__file__).parent / "graphrag_side.py"), str(out)], capture_output=True, text=True, check=True)
        return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, default=REAL, help="real_docs.parquet for GNU info context (skipped when missing)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--graphrag-python", type=Path, default=None, help="python of a venv with graphrag: load `curate graph` output with graphrag's readers")
    args = ap.parse_args()
    passages = read_gold()
    ctx = context(passages, args.real)
    print(f"gold: {len(passages)} passages, {sum(len(p.sentences) for p in passages)} sentences; context: {len(ctx)} pages")
    result: dict[str, object] = {"context_pages": len(ctx)}
    variants = (
        ("offline", EdgeRule()),
        ("baseline_chunk_pairs", EdgeRule(scope="chunk", min_npmi=-1.0, max_degree=10**9)),
        ("window_1", EdgeRule(window=1)),
        ("max_degree_25", EdgeRule(max_degree=25)),
        ("max_degree_200", EdgeRule(max_degree=200)),
        ("min_npmi_0.2", EdgeRule(min_npmi=0.2)),
        ("min_count_2", EdgeRule(min_count=2)),
        ("no_pruning", EdgeRule(min_npmi=-1.0, max_degree=10**9)),
    )
    for name, rule in variants:
        result[name] = evaluate(passages, ctx, rule)
        print(name, json.dumps(result[name]))
    result["speed"] = [speed(ctx, n, args.rounds) for n in (300, 1200)]
    for s in result["speed"]:  # type: ignore[attr-defined]
        print("speed", json.dumps(s))
    if args.graphrag_python is not None:
        result["graphrag_load"] = graphrag_load(args.graphrag_python)
        print("graphrag_load", json.dumps(result["graphrag_load"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
