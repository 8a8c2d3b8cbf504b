"""Run datatrove's PIIFormatter over a Parquet corpus (run in datatrove's own venv, /tmp/dtvenv).

What a datatrove user runs: ``PIIFormatter().format(text)`` for every document (emails, and IPv4
addresses that ``ipaddress`` calls global), timed as a loop. Its output text is written to
OUT/formatted.parquet (id, text). For scoring, the spans it replaced are found by the formatter's
own compiled regexes and validator (``finditer`` over the input: emails, then IPv4 outside them)
and written to OUT/spans.parquet (id, start, end, type), character offsets into the input.

Usage: /tmp/dtvenv/bin/python benchmarks/pii/datatrove_side.py IN.parquet OUT_DIR
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.pipeline.formatters import PIIFormatter


def main() -> None:
    src, dst = sys.argv[1], Path(sys.argv[2])
    dst.mkdir(parents=True, exist_ok=True)
    df = pq.read_table(src, columns=["id", "text"])
    ids, texts = df["id"].to_pylist(), df["text"].to_pylist()
    fmt = PIIFormatter()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    out = [fmt.format(t) for t in texts]
    loop, loop_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    pq.write_table(pa.table({"id": ids, "text": out}), dst / "formatted.parquet")

    email_re, ip_re = fmt.emails_replacer.regex, fmt.ip_replacer.regex
    valid = fmt.ip_replacer.validator
    rows: dict[str, list] = {"id": [], "start": [], "end": [], "type": []}
    for i, t in zip(ids, texts, strict=True):
        taken = []
        for m in email_re.finditer(t):
            rows["id"].append(i), rows["start"].append(m.start()), rows["end"].append(m.end())
            rows["type"].append("email")
            taken.append((m.start(), m.end()))
        for m in ip_re.finditer(t):
            if valid(m.group(0)) and not any(a < m.end() and m.start() < b for a, b in taken):
                rows["id"].append(i), rows["start"].append(m.start()), rows["end"].append(m.end())
                rows["type"].append("ipv4")
    schema = pa.schema([("id", pa.string()), ("start", pa.int64()), ("end", pa.int64()), ("type", pa.string())])
    pq.write_table(pa.table(rows, schema=schema), dst / "spans.parquet")
    stats = {"docs": len(texts), "loop_seconds": loop, "loop_cpu_seconds": loop_cpu}
    (dst / "stats.json").write_text(json.dumps(stats))
    print(f"datatrove PIIFormatter: {loop:.2f} s, {len(texts) / loop:,.0f} docs/s (format loop)")


if __name__ == "__main__":
    main()
