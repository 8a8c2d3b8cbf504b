"""The README's object-storage example runs as written, against the local S3-compatible server."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

from curate.io import store

sys.path.insert(0, str(Path(__file__).parents[1]))
from test_readme import block_with, run_lines  # noqa: E402


def test_the_object_storage_example(cli: Any, bucket: str, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CURATE_SCRATCH", str(tmp_path / "scratch"))
    rows = [{"id": f"d{i}", "text": f"Page {i % 40} of the manual, with its own words number {i % 40}. " * 4} for i in range(60)]
    store.write_bytes(f"{bucket}/raw/part-0.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    (tmp_path / "store.yaml").write_text(
        yaml.safe_dump({"input": {"sources": [{"paths": [f"{bucket}/deduped"]}]}, "workdir": f"{bucket}/work", "output": {"path": f"{bucket}/release"}})
    )
    lines = [ln.replace("s3://corpus", bucket) for ln in block_with("curate dedup s3://corpus/ingested")]
    run_lines(cli, [ln for ln in lines if not ln.startswith("curate inspect")])
    inspect = next(ln for ln in lines if ln.startswith("curate inspect"))
    shown = cli(*shlex.split(inspect)[1:])  # inspect prints: no -q
    assert shown.exit_code == 0 and "exact_duplicate" in shown.stdout, shown.output
    marker = json.loads(store.read_bytes(f"{bucket}/release/_release.json"))
    manifest = json.loads(store.read_bytes(f"{bucket}/release/{marker['release']}/_manifest.json"))
    assert manifest["totals"]["docs_in"] == 40  # the 20 copies stayed in the dedup command's rejected set
