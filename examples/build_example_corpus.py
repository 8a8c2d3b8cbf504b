"""Build the shipped example corpus from the PostgreSQL manual (maintainers only; users never run it).

Real text, PostgreSQL Licence, with planted problems a curation pipeline must handle: exact
copies (some reformatted), near copies with a few word edits, junk documents, malformed
records and an over-long document, spread over JSON Lines (.gz), Parquet and .txt inputs.

    python examples/build_example_corpus.py ../shared/data/real_docs.parquet
"""

from __future__ import annotations

import gzip
import json
import random
import sys
from pathlib import Path

import polars as pl

OUT = Path(__file__).parent / "corpus"
SEED = 20261125


def edit_words(text: str, rate: float, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(max(1, int(len(words) * rate))):
        i = rng.randrange(len(words))
        words[i] = rng.choice(["the", "data", "server", "value", "table", "query"])
    return " ".join(words)


def junk(rng: random.Random) -> str:
    kinds = [
        "Prev Up Home Next",
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 6,
        "\n".join(["click here to subscribe"] * 12),
        "#### ---- #### ---- #### " * 10,
        " ".join(rng.choice(["$$", "%%", "@@", "&&"]) for _ in range(80)),
        "BUY NOW!!! " * 30,
    ]
    return rng.choice(kinds)


def main(shared: str) -> None:
    rng = random.Random(SEED)
    docs = pl.read_parquet(shared).filter(pl.col("source") == "postgresql_docs").sort("id")
    rows = docs.select("text", "origin").to_dicts()
    reference = [r for r in rows if r["origin"].startswith("sql-")]
    notes = [r for r in rows if r["origin"].startswith("release-")][:60]
    manual = [r for r in rows if not r["origin"].startswith(("sql-", "release-"))]

    records = [{"text": r["text"], "page": r["origin"]} for r in manual]
    for r in rng.sample(manual, 150):  # exact copies, a third of them reformatted
        text = r["text"] if rng.random() < 0.66 else "  " + r["text"].replace("\n", "\n\n") + "\n"
        records.append({"text": text, "page": r["origin"]})
    for r in rng.sample(manual, 150):  # near copies
        records.append({"text": edit_words(r["text"], rng.choice([0.005, 0.01, 0.03]), rng), "page": r["origin"]})
    for _ in range(100):
        records.append({"text": junk(rng), "page": "junk"})
    records.append({"text": "\n\n".join(r["text"] for r in manual[:60]), "page": "concatenated"})
    rng.shuffle(records)

    OUT.mkdir(parents=True, exist_ok=True)
    half = len(records) // 2
    for k, chunk in enumerate((records[:half], records[half:])):
        lines = [json.dumps(r, ensure_ascii=False).encode() for r in chunk]
        if k == 1:  # malformed records: ingest rejects them with file and line
            lines.insert(10, b'{"text": "an unterminated record, "page": 1')
            lines.insert(20, b'{"text": "latin-1 bytes \xe9\xe8 are not UTF-8", "page": "bad"}')
            lines.insert(30, b'{"text": "   ", "page": "blank"}')
            lines.insert(40, b'["not", "an", "object"]')
        data = b"\n".join(lines) + b"\n"
        (OUT / "manual").mkdir(exist_ok=True)
        with gzip.GzipFile(OUT / "manual" / f"part-{k}.jsonl.gz", "wb", mtime=0) as fh:
            fh.write(data)

    ref = pl.DataFrame(
        {
            "doc_id": [f"pg-ref-{i:04d}" for i in range(len(reference))],
            "body": [r["text"] for r in reference],
            "url": [f"https://www.postgresql.org/docs/15/{r['origin'].split('#')[0]}" for r in reference],
        }
    )
    ref.write_parquet(OUT / "reference.parquet", compression="zstd")

    (OUT / "notes").mkdir(exist_ok=True)
    for i, r in enumerate(notes):
        (OUT / "notes" / f"note-{i:03d}.txt").write_text(r["text"], encoding="utf-8")
    print(f"manual: {len(records)} records (+4 malformed), reference: {len(reference)}, notes: {len(notes)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/real_docs.parquet")
