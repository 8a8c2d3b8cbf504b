"""Build a boundary-heavy near-duplicate corpus from text on this machine, labelled by exact Jaccard.

Natural documents nobody here wrote, with their own near-copies: Debian package records from
the apt lists (``/var/lib/apt/lists/*Packages*``), man pages (``/usr/share/man``, roff stripped
crudely: gcloud's alpha/beta/GA pages are natural near-copies), licence texts
(``/usr/share/common-licenses``, ``/usr/share/doc/*/copyright``) and HTML documentation under
``/usr/share/doc``. To these it adds edited copies whose word-5-gram Jaccard against their
original is aimed at a target drawn from a triangular distribution on [0.7, 0.9] with its mode at
0.8 (the edit rate is adjusted until the measured Jaccard is within 0.01 of the target, best of
six tries), and exact copies.

The truth is measured over all documents, natural pairs included, with ``build_corpus.py``'s
functions (the stage's tokenisation: lowercased ``\\w+`` tokens, shingles of 5 tokens, shorter
texts one shingle; prefix and length filters, then exact intersection): every pair with Jaccard
>= 0.7 is found, those >= ``--threshold`` are the true pairs, and the removable documents are all
but the smallest id of each connected component of the true pairs.

    python benchmarks/dedup/build_boundary_corpus.py --docs 100000 -o /tmp/dedup-boundary

Writes corpus.parquet (id, text, source, kind, origin, copy_of, target_jaccard, copy_jaccard),
truth_removed.parquet, true_pairs.parquet (a, b, jaccard >= threshold), near_miss_pairs.parquet
(0.7 <= jaccard < threshold) and summary.json.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import html
import json
import lzma
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
from build_corpus import edit, true_pairs
from run import shingles

from curate.dedup.unionfind import connected_components

TOL = 0.005  # how close an edited copy's Jaccard gets to its target
FINE_STEPS = 80
LOW = 0.7  # pairs are measured from here, for the near-miss side of the histogram
# Package fields that are hashes, sizes or file names: unique per record, no text
PKG_DROP = {"Filename", "Size", "MD5sum", "SHA1", "SHA256", "Description-md5", "Installed-Size"}


# ---------------------------------------------------------------------------------- sources


def _decompress(path: str) -> bytes:
    if path.endswith(".lz4"):
        if shutil.which("lz4cat"):
            return subprocess.run(["lz4cat", path], capture_output=True, check=True).stdout
        import lz4.frame  # optional: `pip install lz4` when lz4cat is absent

        with open(path, "rb") as fh:
            return lz4.frame.decompress(fh.read())
    if path.endswith(".gz"):
        with gzip.open(path) as fh:
            return fh.read()
    if path.endswith(".xz"):
        with lzma.open(path) as fh:
            return fh.read()
    with open(path, "rb") as fh:
        return fh.read()


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_packages(pattern: str) -> list[tuple[str, str]]:
    """One record per package stanza (minus hash, size and file-name fields)."""
    out = []
    seen: set[str] = set()
    for path in sorted(glob.glob(pattern)):
        if path.endswith((".diff", ".IndexDiff")) or "/partial/" in path:
            continue
        for stanza in _text(_decompress(path)).split("\n\n"):
            lines, name, drop = [], None, False
            for line in stanza.splitlines():
                if line.startswith((" ", "\t")):
                    if not drop:
                        lines.append(line.strip())
                    continue
                key, _, value = line.partition(":")
                drop = key in PKG_DROP
                if key == "Package":
                    name = value.strip()
                if not drop:
                    lines.append(line)
            if name and lines:
                text = "\n".join(lines)
                if text not in seen:  # the same package in several lists
                    seen.add(text)
                    out.append((name, text))
    return out


_ROFF_DROP = {"PP", "LP", "P", "RS", "RE", "HP", "TP", "PD", "IX", "UE", "ME", "YS", "EE", "EX",
              "Bl", "El", "Bd", "Ed", "Dd", "Dt", "Os", "Ek", "Bk", "TS", "TE", "in", "ti"}
_ROFF_BLOCKS = {"de", "de1", "am", "ig", "ds"}
_ROFF_ESC = re.compile(
    r"\\(?:f(?:\[[^\]]*\]|\(..|.)|s[+-]?(?:\(\d\d|\[[^\]]*\]|\d)|[*n][+-]?(?:\[[^\]]*\]|\(..|.)"
    r"|[hvwlLoxbDXZNRAkz]'[^']*'|\(..|\[[^\]]*\]|.)"
)
_ROFF_CHARS = {
    "\\-": "-", "\\e": "\\", "\\\\": "\\", "\\ ": " ", "\\~": " ", "\\0": " ", "\\'": "'",
    "\\`": "`", "\\(em": "-", "\\(en": "-", "\\(hy": "-", "\\(mi": "-", "\\(bu": "*",
    "\\(co": "(c)", "\\(aq": "'", "\\(cq": "'", "\\(oq": "'", "\\(dq": '"', "\\(lq": '"',
    "\\(rq": '"', "\\(rs": "\\", "\\(ti": "~", "\\(ha": "^", "\\[em]": "-", "\\[en]": "-",
    "\\[aq]": "'", "\\[dq]": '"', "\\[lq]": '"', "\\[rq]": '"', "\\[bu]": "*", "\\[co]": "(c)",
}


def strip_roff(src: str) -> str:
    """Crude roff/mdoc to text: keep the text lines and the arguments of text macros."""
    out = []
    block = False
    for line in src.splitlines():
        if block:
            block = line.strip() != ".."
            continue
        if line.startswith((".", "'")):
            parts = line[1:].strip().split(None, 1)
            if not parts or parts[0].startswith('\\"'):
                continue
            macro = parts[0]
            if macro in _ROFF_BLOCKS:
                block = macro != "ds"
                continue
            if macro in _ROFF_DROP or macro[:1].islower() or len(parts) == 1:
                continue
            line = parts[1].replace('"', "")
        if "\\" in line:
            line = _ROFF_ESC.sub(lambda m: _ROFF_CHARS.get(m.group(0), ""), line)
        if line.strip():
            out.append(line)
    return "\n".join(out)


def read_man(path: str) -> tuple[str, str] | None:
    try:
        src = _text(_decompress(path))
    except (OSError, EOFError, lzma.LZMAError):
        return None
    if src.lstrip().startswith(".so ") and src.count("\n") < 3:
        return None  # a redirect to another page
    text = strip_roff(src)
    return (path, text) if text.strip() else None


_TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->|<[^>]+>", re.S | re.I)


def read_html(path: str) -> tuple[str, str] | None:
    try:
        src = _text(_decompress(path))
    except OSError:
        return None
    text = html.unescape(_TAGS.sub(" ", src))
    text = re.sub(r"[ \t]*\n\s*\n\s*", "\n\n", re.sub(r"[ \t]+", " ", text)).strip()
    return (path, text) if text else None


def read_plain(path: str) -> tuple[str, str] | None:
    try:
        text = _text(_decompress(path)).strip()
    except OSError:
        return None
    return (path, text) if text else None


def _files(patterns: list[str], recursive: bool = False) -> list[str]:
    """Regular files (no symlinks: they are the same text), one per real path, sorted."""
    seen, out = set(), []
    for pat in patterns:
        for p in sorted(glob.glob(pat, recursive=recursive)):
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            real = os.path.realpath(p)
            if real not in seen:
                seen.add(real)
                out.append(p)
    return out


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", limit // 2, limit)
    return text[: cut if cut > 0 else limit]


def _call(job: tuple[str, str]) -> tuple[str, str] | None:
    kind, path = job
    return {"man": read_man, "html": read_html, "licence": read_plain}[kind](path)


def collect(pool: multiprocessing.pool.Pool, args: argparse.Namespace) -> dict[str, list[tuple[str, str]]]:
    jobs = [("man", p) for p in _files([f"{args.man_dir}/**/*.gz"], recursive=True)]
    jobs += [("html", p) for p in _files([f"{args.doc_dir}/**/*.html", f"{args.doc_dir}/**/*.htm"], recursive=True)]
    jobs += [("licence", p) for p in _files([f"{args.licence_dir}/*", f"{args.doc_dir}/*/copyright"])]
    # the biggest files first, so the two workers finish together
    jobs.sort(key=lambda j: -os.path.getsize(j[1]))
    got: dict[str, list[tuple[str, str]]] = {"man": [], "html": [], "licence": []}
    pending = pool.map_async(_call, jobs, chunksize=64)
    got["package"] = read_packages(args.packages)  # in this process, meanwhile
    for (kind, _), res in zip(jobs, pending.get(), strict=True):
        if res is not None:
            got[kind].append(res)
    for kind in got:
        got[kind].sort()
    return got


# ------------------------------------------------------------------------------ edited copies

_VOCAB: list[str] = []
_SEED = 0


def _init_copies(vocab: list[str], seed: int) -> None:
    global _VOCAB, _SEED
    _VOCAB, _SEED = vocab, seed


def jaccard(a: str, b: str) -> float:
    """Word-5-gram Jaccard of two texts, the stage's tokenisation (lowercase ``\\w+``)."""
    sa, sb = set(shingles(a)), set(shingles(b))
    union = len(sa | sb)
    return len(sa & sb) / union if union else 1.0


def _rate_for(j: float) -> float:
    """Edit rate that gives Jaccard ``j`` if each edit changes 5 shingles independently."""
    c = 2 * j / (1 + j)  # J = c / (2 - c), c = shared fraction = (1 - rate)^5
    return 1 - c**0.2


def _edit_once(words: list[str], rng: np.random.Generator) -> list[str]:
    """One word deleted, substituted or inserted at a random place."""
    out = list(words)
    p = int(rng.integers(len(out) + 1))
    op = int(rng.integers(3)) if out else 2
    word = _VOCAB[int(rng.integers(len(_VOCAB)))]
    if op == 2:
        out.insert(p, word)
    elif op == 1:
        out[min(p, len(out) - 1)] = word
    else:
        del out[min(p, len(out) - 1)]
    return out


def make_copy(job: tuple[int, str, float]) -> tuple[str, float]:
    """An edited copy of ``text`` whose measured Jaccard against it is close to ``target``.

    Coarse: ``build_corpus.edit`` at a rate aimed a little above the target (best of six tries
    that does not fall below it). Fine: single-word edits, each kept only if the Jaccard stays at
    or above ``target - TOL``, until it is within ``TOL`` of the target (short texts reach it with
    edits near their ends, which touch fewer shingles).
    """
    i, text, target = job
    rng = np.random.default_rng([_SEED, i])
    base = set(shingles(text))

    def jac(words: list[str]) -> float:
        s = set(shingles(" ".join(words)))
        union = len(base | s)
        return len(base & s) / union if union else 1.0

    words, j = text.split(), 1.0
    aim = min(target + 2 * TOL, 0.999)
    want = rate = _rate_for(aim)
    for _ in range(6):
        cand = edit(text, min(rate, 0.9), rng, _VOCAB).split()
        cj = jac(cand)
        if target - TOL <= cj < j:
            words, j = cand, cj
        if abs(cj - aim) <= TOL:
            break
        got = _rate_for(cj) if cj > 0 else 1.0
        rate = rate * want / got if got > 0 else rate * 2
    for _ in range(FINE_STEPS):
        if j <= target + TOL:
            break
        cand = _edit_once(words, rng)
        cj = jac(cand)
        if cj >= target - TOL:
            words, j = cand, cj
    return " ".join(words), j


# ------------------------------------------------------------------------------------ main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--near-fraction", type=float, default=0.10, help="edited copies (share of --docs)")
    ap.add_argument("--exact-fraction", type=float, default=0.03, help="exact copies (share of --docs)")
    ap.add_argument("--target", type=float, nargs=3, default=[0.7, 0.8, 0.9], metavar=("LOW", "MODE", "HIGH"),
                    help="triangular distribution of the copies' target Jaccard")
    ap.add_argument("--min-tokens", type=int, default=30, help="smallest original an edited copy is made of")
    ap.add_argument("--max-chars", type=int, default=16_000, help="longer documents are cut at a space")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--packages", default="/var/lib/apt/lists/*Packages*")
    ap.add_argument("--man-dir", default="/usr/share/man")
    ap.add_argument("--doc-dir", default="/usr/share/doc")
    ap.add_argument("--licence-dir", default="/usr/share/common-licenses")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    ctx = multiprocessing.get_context("spawn")  # polars' threads make fork unsafe

    with ctx.Pool(args.workers) as pool:
        got = collect(pool, args)
    naturals = [(src, origin, truncate(text, args.max_chars)) for src in sorted(got) for origin, text in got[src]]
    t_read = time.perf_counter() - t0
    found = {src: len(v) for src, v in sorted(got.items())}
    print(f"read {len(naturals):,} natural documents in {t_read:.1f} s: {found}", file=sys.stderr)

    n_near = round(args.docs * args.near_fraction)
    n_exact = round(args.docs * args.exact_fraction)
    n_orig = args.docs - n_near - n_exact
    if len(naturals) >= n_orig:
        pick = np.sort(rng.choice(len(naturals), n_orig, replace=False))
    else:  # fewer natural documents than asked: more edited copies
        pick = np.arange(len(naturals))
        n_orig = len(naturals)
        n_near = args.docs - n_orig - n_exact
    picked = [naturals[i] for i in pick]
    texts = [t for _, _, t in picked]
    ntok = pl.Series(texts).str.to_lowercase().str.count_matches(r"\w+").to_numpy()
    eligible = np.nonzero(ntok >= args.min_tokens)[0]
    sample = rng.choice(len(texts), min(2000, len(texts)), replace=False)
    vocab = sorted({w for i in sample for w in texts[i].split()})

    src_of = rng.choice(eligible, n_near).tolist()
    lo, mode, hi = args.target
    targets = rng.triangular(lo, mode, hi, n_near)
    jobs = [(k, texts[src_of[k]], float(targets[k])) for k in range(n_near)]
    # long originals first (they take longest), then back to job order
    order = sorted(range(n_near), key=lambda k: -len(jobs[k][1]))
    with ctx.Pool(args.workers, initializer=_init_copies, initargs=(vocab, args.seed)) as pool:
        made = pool.map(make_copy, [jobs[k] for k in order], chunksize=16)
    copies: list[tuple[str, float]] = [("", 0.0)] * n_near
    for k, res in zip(order, made, strict=True):
        copies[k] = res
    exact_of = rng.choice(n_orig, n_exact).tolist()
    t_copies = time.perf_counter() - t0 - t_read

    rows_text = texts + [c for c, _ in copies] + [texts[i] for i in exact_of]
    sources = [s for s, _, _ in picked] + [picked[i][0] for i in src_of] + [picked[i][0] for i in exact_of]
    origins = [o for _, o, _ in picked] + [picked[i][1] for i in src_of] + [picked[i][1] for i in exact_of]
    kinds = ["original"] * n_orig + ["near"] * n_near + ["exact"] * n_exact
    parent = [-1] * n_orig + src_of + exact_of
    target_j = [None] * n_orig + [float(t) for t in targets] + [1.0] * n_exact
    copy_j = [None] * n_orig + [j for _, j in copies] + [1.0] * n_exact
    perm = rng.permutation(len(rows_text))
    new_id = np.empty(len(perm), np.int64)
    new_id[perm] = np.arange(len(perm))
    ids = [f"{i:08d}" for i in range(len(perm))]
    df = pl.DataFrame(
        {
            "id": ids,
            "text": [rows_text[i] for i in perm],
            "source": [sources[i] for i in perm],
            "kind": [kinds[i] for i in perm],
            "origin": [origins[i] for i in perm],
            "copy_of": [ids[new_id[parent[i]]] if parent[i] >= 0 else None for i in perm],
            "target_jaccard": [target_j[i] for i in perm],
            "copy_jaccard": [copy_j[i] for i in perm],
        },
        schema_overrides={"copy_of": pl.String, "target_jaccard": pl.Float64, "copy_jaccard": pl.Float64},
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    df.write_parquet(out / "corpus.parquet")

    t1 = time.perf_counter()
    a, b, j = true_pairs(df["text"], LOW)
    t_truth = time.perf_counter() - t1
    hit = j >= args.threshold
    comp = connected_components(df.height, a[hit], b[hit])
    removable = np.nonzero(comp != np.arange(df.height))[0]
    pairs = pl.DataFrame({"a": df["id"].gather(a), "b": df["id"].gather(b), "jaccard": j}).sort("a", "b")
    pairs.filter(pl.col("jaccard") >= args.threshold).write_parquet(out / "true_pairs.parquet")
    pairs.filter(pl.col("jaccard") < args.threshold).write_parquet(out / "near_miss_pairs.parquet")
    pl.DataFrame({"id": df["id"].gather(removable)}).write_parquet(out / "truth_removed.parquet")

    edges = np.round(np.arange(LOW, 1.0 + 1e-9, 0.02), 2)
    hist, _ = np.histogram(j, bins=edges)
    kind_arr = df["kind"].to_numpy()
    natural = (kind_arr[a] == "original") & (kind_arr[b] == "original")
    near_j = df.filter(pl.col("kind") == "near")["copy_jaccard"].to_numpy()
    summary = {
        "docs": df.height,
        "bytes": int(df["text"].str.len_bytes().sum()),
        "natural_documents_found": found,
        "docs_by_source": dict(df.group_by("source").len().sort("source").rows()),
        "docs_by_kind": dict(df.group_by("kind").len().sort("kind").rows()),
        "threshold": args.threshold,
        "true_pairs": int(hit.sum()),
        "true_pairs_between_natural_documents": int((hit & natural).sum()),
        "truth_removed": int(removable.size),
        "pairs_measured_from": LOW,
        "near_miss_pairs": int((~hit).sum()),
        "pairs_in_0.75_0.85": int(((j >= 0.75) & (j <= 0.85)).sum()),
        "true_pairs_in_0.80_0.85": int(((j >= args.threshold) & (j <= 0.85)).sum()),
        "pairs_histogram_0.02": [[f"{edges[k]:.2f}-{edges[k + 1]:.2f}", int(hist[k])] for k in range(len(hist))],
        "edited_copies_jaccard_to_original": {
            "min": round(float(near_j.min()), 4) if near_j.size else None,
            "median": round(float(np.median(near_j)), 4) if near_j.size else None,
            "max": round(float(near_j.max()), 4) if near_j.size else None,
            "in_0.75_0.85": int(((near_j >= 0.75) & (near_j <= 0.85)).sum()),
            ">=threshold": int((near_j >= args.threshold).sum()),
        },
        "seed": args.seed,
        "seconds": {"read": round(t_read, 1), "copies": round(t_copies, 1), "truth": round(t_truth, 1),
                    "total": round(time.perf_counter() - t0, 1)},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
