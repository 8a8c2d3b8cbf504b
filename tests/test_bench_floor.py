"""benchmarks/dedup/bench_floor.py: holding the input or streaming it (``--stream``) decides the same."""

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

FLOOR = Path(__file__).resolve().parents[1] / "benchmarks" / "dedup" / "bench_floor.py"


def _corpus(path: Path) -> None:
    base = [f"document {i} " + " ".join(f"word{i}x{k}" for k in range(40)) for i in range(60)]
    near = [t.replace("x39", "y39") for t in base[:20]]  # the last word differs: Jaccard 37/39 of word 5-grams
    exact = base[20:30]
    texts = base + near + exact
    # row groups of 37 and batches of 16 (``_run``): batches cross the file's groups
    pq.write_table(pa.table({"id": [f"d{i:03d}" for i in range(len(texts))], "text": texts}), path, row_group_size=37)


def _run(corpus: Path, out: Path, *extra: str) -> tuple[list[str], list[tuple[str, str]]]:
    done = subprocess.run([sys.executable, str(FLOOR), str(corpus), "-o", str(out), "--batch-rows", "16", *extra], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    removed = sorted(pq.read_table(out / "removed.parquet")["id"].to_pylist())
    kept = pa.concat_tables([pq.read_table(f) for f in sorted(out.glob("kept-*.parquet"))])
    return removed, sorted(zip(kept["id"].to_pylist(), kept["text"].to_pylist(), strict=True))


def test_streaming_floor_removes_and_keeps_the_same_rows(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.parquet"
    _corpus(corpus)
    held = _run(corpus, tmp_path / "held")
    streamed = _run(corpus, tmp_path / "streamed", "--stream")
    assert streamed == held
    removed, kept = held
    assert len(removed) == 30  # 10 exact copies and 20 near copies
    assert len(kept) == 60
