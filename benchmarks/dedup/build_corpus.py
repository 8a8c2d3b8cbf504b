"""Build a near-duplicate benchmark corpus from real text and label it by exact Jaccard.

Originals are real documents cut into chunks of at most ``--chunk-chars`` characters; copies
are injected with word-edit rates from 0 to 20 % (substitute/delete/insert) and as exact copies.
The truth is *measured*: every pair whose word-5-gram Jaccard (the stage's normalisation) is at
least ``--threshold`` is found exactly, with a length filter and a prefix filter (rarest shingles
first), and the removable documents are all but the smallest id of each connected component.

    python benchmarks/dedup/build_corpus.py --source /work/shared/data/real_docs.parquet \
        --docs 100000 -o /tmp/dedup-bench
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numba
import numpy as np
import polars as pl

from curate.dedup.unionfind import connected_components
from curate.hashing import hash_strings

EDIT_RATES = [0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2]


def chunks(texts: list[str], limit: int) -> list[str]:
    out = []
    for t in texts:
        while len(t) > limit:
            cut = t.rfind(" ", limit // 2, limit)
            cut = cut if cut > 0 else limit
            out.append(t[:cut])
            t = t[cut:]
        if t.strip():
            out.append(t)
    return out


def edit(text: str, rate: float, rng: np.random.Generator, vocab: list[str]) -> str:
    words = text.split()
    if rate == 0.0 or not words:
        return text
    out: list[str] = []
    ops = rng.random(len(words))
    for w, r in zip(words, ops, strict=True):
        if r < rate / 3:
            continue  # delete
        if r < 2 * rate / 3:
            out.append(vocab[int(rng.integers(len(vocab)))])  # substitute
            continue
        out.append(w)
        if r < rate:
            out.append(vocab[int(rng.integers(len(vocab)))])  # insert
    return " ".join(out)


def shingle_sets(texts: pl.Series, ngram: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """CSR (offsets, sorted unique uint64 shingle hashes) per document, in numpy/polars only."""
    toks = texts.fill_null("").str.to_lowercase().str.extract_all(r"\w+")
    lens = toks.list.len().to_numpy().astype(np.int64)
    flat = toks.explode().drop_nulls()
    th = hash_strings(flat, 7)
    return _shingles(th, lens, ngram)


@numba.njit(cache=True)
def _shingles(th: np.ndarray, lens: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    counts = np.empty(lens.shape[0], np.int64)
    for d in range(lens.shape[0]):
        counts[d] = 0 if lens[d] == 0 else max(lens[d] - n + 1, 1)
    off = np.zeros(lens.shape[0] + 1, np.int64)
    off[1:] = np.cumsum(counts)
    out = np.empty(off[-1], np.uint64)
    t0 = 0
    for d in range(lens.shape[0]):
        w = min(n, lens[d])
        for s in range(counts[d]):
            h = np.uint64(w)
            for t in range(t0 + s, t0 + s + w):
                h = (h ^ th[t]) * np.uint64(0x9E3779B185EBCA87)
                h ^= h >> np.uint64(29)
            out[off[d] + s] = h
        seg = np.unique(out[off[d] : off[d + 1]])
        counts[d] = seg.shape[0]
        out[off[d] : off[d] + seg.shape[0]] = seg
        t0 += lens[d]
    # compact away the duplicate shingles
    noff = np.zeros(lens.shape[0] + 1, np.int64)
    noff[1:] = np.cumsum(counts)
    comp = np.empty(noff[-1], np.uint64)
    for d in range(lens.shape[0]):
        comp[noff[d] : noff[d + 1]] = out[off[d] : off[d] + counts[d]]
    return noff, comp


@numba.njit(cache=True)
def _jaccard_pairs(off: np.ndarray, vals: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.empty(a.shape[0], np.float64)
    for p in range(a.shape[0]):
        i, ie = off[a[p]], off[a[p] + 1]
        j, je = off[b[p]], off[b[p] + 1]
        na, nb = ie - i, je - j
        inter = 0
        while i < ie and j < je:
            if vals[i] == vals[j]:
                inter += 1
                i += 1
                j += 1
            elif vals[i] < vals[j]:
                i += 1
            else:
                j += 1
        union = na + nb - inter
        out[p] = inter / union if union else 0.0
    return out


def true_pairs(texts: pl.Series, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs with Jaccard >= threshold (prefix filter: each set sorted rarest-first)."""
    off, vals = shingle_sets(texts)
    n = len(off) - 1
    sizes = np.diff(off)
    doc = np.repeat(np.arange(n), sizes)
    # global frequency order: rank shingles by (frequency, value)
    uniq, inv, freq = np.unique(vals, return_inverse=True, return_counts=True)
    rank = np.empty(uniq.shape[0], np.int64)
    rank[np.lexsort((uniq, freq))] = np.arange(uniq.shape[0])
    r = rank[inv]
    order = np.lexsort((r, doc))
    r_sorted = r[order]
    pos = np.arange(vals.shape[0]) - off[doc]
    prefix_len = sizes - np.ceil(threshold * sizes).astype(np.int64) + 1
    keep = pos < prefix_len[doc]
    pre = pl.DataFrame({"doc": doc[keep], "tok": r_sorted[keep]})
    cand = (
        pre.join(pre, on="tok", suffix="_b")
        .filter(pl.col("doc") < pl.col("doc_b"))
        .select("doc", "doc_b")
        .unique()
    )
    a, b = cand["doc"].to_numpy(), cand["doc_b"].to_numpy()
    sa, sb = sizes[a], sizes[b]
    ok = (np.minimum(sa, sb) >= threshold * np.maximum(sa, sb)) & (sa > 0) & (sb > 0)
    a, b = a[ok], b[ok]
    j = _jaccard_pairs(off, vals, a, b)
    hit = j >= threshold
    return a[hit], b[hit], j[hit]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="/work/shared/data/real_docs.parquet")
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--chunk-chars", type=int, default=1500)
    ap.add_argument("--near-fraction", type=float, default=0.2)
    ap.add_argument("--exact-fraction", type=float, default=0.05)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    real = pl.read_parquet(args.source, columns=["text"])["text"].drop_nulls().to_list()
    originals = chunks(real, args.chunk_chars)
    n_near = int(args.docs * args.near_fraction)
    n_exact = int(args.docs * args.exact_fraction)
    n_orig = min(args.docs - n_near - n_exact, len(originals))
    picked = [originals[i] for i in rng.choice(len(originals), n_orig, replace=False)]
    vocab = list({w for t in picked[:2000] for w in t.split()})
    texts, kinds, rates = list(picked), ["original"] * n_orig, [0.0] * n_orig
    for _ in range(n_near):
        rate = float(rng.choice(EDIT_RATES[1:]))
        texts.append(edit(picked[int(rng.integers(n_orig))], rate, rng, vocab))
        kinds.append("near")
        rates.append(rate)
    for _ in range(n_exact):
        texts.append(picked[int(rng.integers(n_orig))])
        kinds.append("exact")
        rates.append(0.0)
    perm = rng.permutation(len(texts))
    df = pl.DataFrame(
        {
            "id": [f"{i:08d}" for i in range(len(texts))],
            "text": [texts[i] for i in perm],
            "kind": [kinds[i] for i in perm],
            "edit_rate": [rates[i] for i in perm],
        }
    )
    out = Path(args.out)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    per = -(-df.height // args.shards)
    for s in range(args.shards):
        df[s * per : (s + 1) * per].write_parquet(out / "shards" / f"part-{s:05d}.parquet")
    a, b, j = true_pairs(df["text"], args.threshold)
    comp = connected_components(df.height, a, b)
    removable = np.nonzero(comp != np.arange(df.height))[0]
    pl.DataFrame({"a": df["id"].gather(a), "b": df["id"].gather(b), "jaccard": j}).write_parquet(out / "true_pairs.parquet")
    pl.DataFrame({"id": df["id"].gather(removable)}).write_parquet(out / "truth_removed.parquet")
    near = df.filter(pl.col("kind") == "near")
    summary = {
        "docs": df.height,
        "originals": n_orig,
        "near_copies": n_near,
        "exact_copies": n_exact,
        "true_pairs": int(a.size),
        "truth_removed": int(removable.size),
        "bytes": int(df["text"].str.len_bytes().sum()),
        "near_copies_by_rate": near.group_by("edit_rate").len().sort("edit_rate").rows(),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
