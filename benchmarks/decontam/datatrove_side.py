"""datatrove's n-gram decontamination (NGramsDecontIndexer + NGramsDecontFilter) on local eval files.

Run in datatrove's own venv (/tmp/dtvenv). datatrove 0.10.1's ``NGramsDecontIndexer.run`` accepts
eval items as input documents (text = label, metadata query and task), but then always imports
lighteval and asks its registry for ``lighteval_tasks`` (downloaded from the Hugging Face hub),
and lighteval is not installed: the class cannot even be constructed without it
(``_requires_dependencies``). So the index is built with the indexer's own code for that path,
``NGramsDecontIndexer.compute_hashes(label, query)`` (its tokenizer, normalisation and hash), and
written as ``run`` writes it (``<task>.index.hashes``, the configured uint64 dtype); the filter is
datatrove's ``NGramsDecontFilter`` unchanged, reading that folder. Config: ``n_grams`` = N (13, as
curate), ``find_query_ngrams=True`` (datatrove's default False ignores n-grams of the question
alone; curate matches every field), ``find_overlap_ngrams=True`` (its default). Query / label:
HumanEval ``prompt`` / ``canonical_solution``; questions ``question`` / ``answer``.

Usage: /tmp/dtvenv/bin/python benchmarks/decontam/datatrove_side.py CORPUS_DIR OUT_DIR [N]
Writes OUT_DIR/removed.parquet (id, task) and OUT_DIR/stats.json (index and filter seconds).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from datatrove.data import Document
from datatrove.pipeline.decont import NGramsDecontFilter, NGramsDecontIndexer
from datatrove.pipeline.decont.n_grams import NGramsDecontConfig
from datatrove.utils.hashing import create_hash_func
from datatrove.utils.typeshelper import Languages
from datatrove.utils.word_tokenizers import load_word_tokenizer


class _Indexer:
    """What ``NGramsDecontIndexer.compute_hashes`` reads of ``self``."""

    def __init__(self, config: NGramsDecontConfig):
        self.config = config
        self.tokenizer = load_word_tokenizer(Languages.english)
        self.hash_func = create_hash_func(config.hash_config)


def items(corpus: Path) -> dict[str, list[tuple[str, str]]]:
    """task -> (query, label) pairs, from the files the builder wrote."""
    out: dict[str, list[tuple[str, str]]] = {}
    with open(corpus / "evals" / "humaneval.jsonl") as fh:
        out["humaneval"] = [(p["prompt"], p["canonical_solution"]) for p in map(json.loads, fh)]
    docqa = pq.read_table(corpus / "evals" / "docqa.parquet")
    out["docqa"] = list(zip(docqa["question"].to_pylist(), docqa["answer"].to_pylist(), strict=True))
    infoqa = pacsv.read_csv(corpus / "evals" / "infoqa.csv")
    out["infoqa"] = list(zip(infoqa["question"].to_pylist(), infoqa["answer"].to_pylist(), strict=True))
    return out


def main() -> None:
    corpus, dst = Path(sys.argv[1]), Path(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 13
    dst.mkdir(parents=True, exist_ok=True)
    config = NGramsDecontConfig(n_grams=n, find_query_ngrams=True, find_overlap_ngrams=True)
    t0 = time.perf_counter()
    idx = _Indexer(config)
    index_dir = dst / "index"
    index_dir.mkdir(exist_ok=True)
    n_hashes = 0
    for task, pairs in items(corpus).items():
        hashes: set[int] = set()
        for query, label in pairs:
            hashes.update(NGramsDecontIndexer.compute_hashes(idx, label, query))
        arr = np.array(list(hashes), dtype=config.hash_config.np_descr)
        arr.tofile(index_dir / f"{task}.index.hashes")
        n_hashes += len(arr)
    t_index = time.perf_counter() - t0

    df = pq.read_table(corpus / "corpus.parquet", columns=["id", "text"])
    flt = NGramsDecontFilter(str(index_dir), config=config)
    t1 = time.perf_counter()
    removed, tasks = [], []
    for i, text in zip(df["id"].to_pylist(), df["text"].to_pylist(), strict=True):
        doc = Document(text=text, id=i)
        res = flt.filter(doc)
        keep = res if isinstance(res, bool) else res[0]
        if not keep:
            removed.append(i)
            tasks.append(doc.metadata.get("contaminated_task"))
    t_filter = time.perf_counter() - t1
    pq.write_table(pa.table({"id": pa.array(removed, pa.string()), "task": pa.array(tasks, pa.string())}),
                   dst / "removed.parquet")
    stats = {"index_seconds": t_index, "filter_seconds": t_filter, "index_hashes": n_hashes,
             "index_bytes": n_hashes * np.dtype(config.hash_config.np_descr).itemsize}
    (dst / "stats.json").write_text(json.dumps(stats))
    print(f"datatrove decont: index {t_index:.2f} s ({n_hashes:,} hashes), filter {t_filter:.2f} s, "
          f"{df.num_rows / t_filter:,.0f} docs/s, removed {len(removed):,}")


if __name__ == "__main__":
    main()
