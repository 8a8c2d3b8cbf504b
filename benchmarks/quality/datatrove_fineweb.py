"""datatrove's FineWeb heuristic chain as a whole pipeline (run in datatrove's own venv).

Reads the Parquet files of a folder (id, text), runs GopherRepetitionFilter, GopherQualityFilter,
C4QualityFilter and FineWebQualityFilter in that order (datatrove 0.10.1, examples/fineweb.py),
each with an exclusion writer, and writes the kept documents; one task and one worker per file
up to --workers. Usage:
  /tmp/dtvenv/bin/python benchmarks/quality/datatrove_fineweb.py IN_DIR OUT_DIR --workers 1 \
      [--c4-terminal-punct]
OUT_DIR/output/*.jsonl: kept documents (id, text); OUT_DIR/removed/<n>_<filter>/*.jsonl: the
documents each filter dropped, with metadata.filter_reason.
"""

from __future__ import annotations

import argparse
import glob
import os

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.pipeline.readers import ParquetReader
from datatrove.pipeline.writers import JsonlWriter


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument(
        "--c4-terminal-punct",
        action="store_true",
        help="C4QualityFilter's default (remove lines without terminal punctuation); FineWeb "
        "published filter_no_terminal_punct=False",
    )
    args = ap.parse_args()
    files = len(glob.glob(os.path.join(args.input, "*.parquet")))

    def removed(name: str) -> JsonlWriter:
        return JsonlWriter(os.path.join(args.output, "removed", name), compression=None)

    pipeline = [
        ParquetReader(args.input, glob_pattern="*.parquet", text_key="text", id_key="id"),
        GopherRepetitionFilter(exclusion_writer=removed("1_gopher_rep")),
        GopherQualityFilter(exclusion_writer=removed("2_gopher_qual")),
        C4QualityFilter(filter_no_terminal_punct=args.c4_terminal_punct, exclusion_writer=removed("3_c4")),
        FineWebQualityFilter(exclusion_writer=removed("4_fineweb_qual")),
        JsonlWriter(os.path.join(args.output, "output"), compression=None),
    ]
    tasks = max(1, min(args.workers, files))
    LocalPipelineExecutor(
        pipeline=pipeline,
        tasks=tasks,
        workers=tasks,
        logging_dir=os.path.join(args.output, "logs"),
        skip_completed=False,
    ).run()


if __name__ == "__main__":
    main()
