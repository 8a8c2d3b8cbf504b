"""fastText speed: curate's compiled kernel against the `fasttext` module, same models.

Three measurements, on a corpus a user did not tune (default: the shared real documents):

1. In one process, per CPU second: ``LanguageIdentifier.identify`` (the kernel) against the module
   path curate used before (newlines to spaces, ``model.predict`` in batches of 4,096), and the
   py3langid kernel, interleaved pass by pass. Checks the kernel's answers equal the module's bit
   for bit (label and float32 probability of every document).
2. A DCLM-style quality scorer (``train_classifier``: dim 64, word bigrams, trained here on half
   the corpus), ``FastTextScorerModel.score`` (the kernel) against the module's ``predict`` with
   every label (the path before), same check of equal answers.
3. With ``--before-src TREE``: the whole command a user types, ``curate score IN -o OUT --langid
   --heuristics ''``, as a subprocess, with the source tree before the kernel and the checkout,
   alternating, wall and CPU time of the process tree.

    .venv/bin/python benchmarks/quality/fasttext_speed.py /work/shared/data/real_docs.parquet \
        --repeats 5 --before-src /tmp/before/src
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[2]


def module_identify(model: object, text: pl.Series, batch: int = 4096) -> tuple[list[str | None], np.ndarray]:
    """The module path as curate ran it before the kernel (langid.py at 8eb0595)."""
    from curate.quality.fasttext_model import prepare_texts

    lines = prepare_texts(text)
    langs: list[str | None] = [None] * len(lines)
    scores = np.full(len(lines), np.nan)
    todo = [i for i, t in enumerate(lines) if t and not t.isspace()]
    for start in range(0, len(todo), batch):
        idx = todo[start : start + batch]
        labels, probs = model.predict([lines[i] for i in idx], k=1)  # type: ignore[attr-defined]
        for i, labs, ps in zip(idx, labels, probs, strict=True):
            if len(labs):
                langs[i] = str(labs[0]).removeprefix("__label__")
                scores[i] = min(max(float(ps[0]), 0.0), 1.0)
    return langs, scores


def in_process(corpus: Path, repeats: int) -> None:
    import fasttext

    from curate.quality.langid import LanguageIdentifier
    from curate.quality.models import LID_176_FTZ

    text = pl.read_parquet(corpus, columns=["text"])["text"] if corpus.suffix == ".parquet" else pl.read_ndjson(corpus)["text"]
    mb = text.str.len_bytes().sum() / 1e6
    kernel = LanguageIdentifier()
    py3 = LanguageIdentifier(backend="py3langid")
    module = fasttext.load_model(str(LID_176_FTZ))
    runs: dict[str, list[float]] = {"kernel": [], "module": [], "py3langid": []}
    got = want = None
    for _ in range(repeats):
        for name in runs:
            t = time.process_time()
            if name == "kernel":
                got = kernel.identify(text)
            elif name == "module":
                want = module_identify(module, text)
            else:
                py3.identify(text)
            runs[name].append(time.process_time() - t)
    assert got is not None and want is not None
    same_lang = got["lang"].to_list() == want[0]
    ks = got["lang_score"].to_numpy()
    same_score = bool(np.array_equal(np.nan_to_num(ks, nan=-1.0), np.nan_to_num(want[1], nan=-1.0)))
    print(f"corpus: {corpus} ({len(text):,} documents, {mb:,.1f} MB); {repeats} interleaved passes, CPU s of this process")
    print("| language ID | CPU s per pass (median) | docs per CPU s | MB per CPU s | passes |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name, label in (
        ("kernel", "fastText lid.176.ftz, curate's kernel (now)"),
        ("module", "fastText lid.176.ftz, `fasttext` module (before)"),
        ("py3langid", "py3langid model, curate's kernel"),
    ):
        med = statistics.median(runs[name])
        print(f"| {label} | {med:.3f} | {len(text) / med:,.0f} | {mb / med:,.1f} | {', '.join(f'{x:.2f}' for x in runs[name])} |")
    ratio = statistics.median(m / k for m, k in zip(runs["module"], runs["kernel"], strict=True))
    print(f"\nmodule / kernel CPU, median of per-pass ratios: {ratio:.1f}x")
    print(f"same lang for every document: {same_lang}; same lang_score (float64 of fastText's float32): {same_score}")


def scorer(corpus: Path, repeats: int) -> None:
    import fasttext

    from curate.quality.fasttext_model import FastTextScorerModel, prepare_texts, train_classifier

    text = pl.read_parquet(corpus, columns=["text"])["text"] if corpus.suffix == ".parquet" else pl.read_ndjson(corpus)["text"]
    half = text.len() // 2
    pos, neg = text.head(half).gather_every(2), text.head(half).gather_every(2, offset=1)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "hq.bin"
        train_classifier(pos.to_list()[:3000], neg.to_list()[:3000], model_path, thread=1, epoch=5, dim=64)
        kernel = FastTextScorerModel(model_path)
        assert kernel.compiled is not None
        module = fasttext.load_model(str(model_path))
        held = text.tail(text.len() - half)
        runs: dict[str, list[float]] = {"kernel": [], "module": []}
        got = want = None
        for _ in range(repeats):
            t = time.process_time()
            got = kernel.score(held).to_numpy()
            runs["kernel"].append(time.process_time() - t)
            t = time.process_time()
            lines = prepare_texts(held)
            want = np.zeros(len(lines))
            for start in range(0, len(lines), 4096):
                labels, probs = module.predict(lines[start : start + 4096], k=2, threshold=0.0)
                for j, (ls, ps) in enumerate(zip(labels, probs, strict=True)):
                    want[start + j] = min(max(float(dict(zip(ls, ps, strict=True)).get("__label__hq", 0.0)), 0.0), 1.0)
            runs["module"].append(time.process_time() - t)
    assert got is not None and want is not None
    print(f"\nquality scorer (dim 64, word bigrams) on the other {held.len():,} documents, {repeats} passes, CPU s")
    print("| fastText scorer | CPU s per pass (median) | docs per CPU s |")
    print("| --- | ---: | ---: |")
    for name in runs:
        med = statistics.median(runs[name])
        print(f"| {name} | {med:.3f} | {held.len() / med:,.0f} |")
    print(f"same P(__label__hq) for every document: {bool(np.array_equal(got, want))}")


def whole_command(corpus: Path, before: Path, repeats: int) -> None:
    trees = {"before": before, "after": REPO / "src"}
    res: dict[str, list[tuple[float, float]]] = {k: [] for k in trees}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            order = list(trees) if r % 2 == 0 else list(trees)[::-1]
            for name in order:
                out = Path(tmp) / name
                shutil.rmtree(out, ignore_errors=True)
                env = dict(os.environ, PYTHONPATH=str(trees[name]))
                cmd = [sys.executable, "-m", "curate", "score", str(corpus), "-o", str(out), "-q", "--langid", "--heuristics", ""]
                u0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                subprocess.run(cmd, env=env, check=True)
                wall = time.perf_counter() - t0
                u1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (u1.ru_utime - u0.ru_utime) + (u1.ru_stime - u0.ru_stime)
                res[name].append((wall, cpu))
    print(f"\n`curate score {corpus.name} -o OUT -q --langid --heuristics ''`, {repeats} rounds alternating, load {os.getloadavg()[0]:.1f}")
    print("| source | wall s (runs) | median wall s | median CPU s, process tree |")
    print("| --- | --- | ---: | ---: |")
    for name, v in res.items():
        print(f"| {name} | {', '.join(f'{w:.2f}' for w, _ in v)} | {statistics.median(w for w, _ in v):.2f} | {statistics.median(c for _, c in v):.2f} |")
    print(
        f"before / after, median of per-round ratios: wall "
        f"{statistics.median(b[0] / a[0] for b, a in zip(res['before'], res['after'], strict=True)):.2f}x, CPU "
        f"{statistics.median(b[1] / a[1] for b, a in zip(res['before'], res['after'], strict=True)):.2f}x"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", type=Path, nargs="?", default=Path("/work/shared/data/real_docs.parquet"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--before-src", type=Path, help="a source tree without the kernel, for the whole-command comparison")
    args = ap.parse_args()
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    in_process(args.corpus, args.repeats)
    scorer(args.corpus, args.repeats)
    if args.before_src:
        whole_command(args.corpus, args.before_src, max(3, args.repeats // 2 * 2 - 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
