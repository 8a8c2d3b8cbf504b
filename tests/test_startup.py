"""Start-up cost a user pays on every command: nothing heavy is imported that the work does not need."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl

SCRIPT = """
import sys
sys.argv = ["curate", *sys.argv[1:]]
from curate.cli import main
try:
    main()
except SystemExit as exit:
    assert not exit.code, exit.code
print("pandas" in sys.modules)
"""


def test_ingest_and_dedup_never_import_pandas(tmp_path: Path) -> None:
    """pyarrow imports pandas behind ``pa.array``, ``pa.scalar``, ``Schema.empty_table`` and a
    boolean ``to_numpy``: ~0.5 s of a command's start-up, in every worker process."""
    texts = ["Ünïcödé café " * 20, "plain ascii text here " * 20, "e\u0301 decomposed " * 20, "plain ascii text here " * 20]
    src = tmp_path / "in.parquet"
    pl.DataFrame({"text": texts}).write_parquet(src)
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, "dedup", str(src), "-o", str(tmp_path / "out"), "-q", "-w", "1"],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "False"


def test_help_and_version_import_no_stage_module() -> None:
    """Help texts show config defaults from a precomputed table: `curate --version` or `--help`
    never imports a stage (each pulled numpy, polars and its own tables: over a second)."""
    code = (
        "import sys\nsys.argv = ['curate', '--help']\nfrom curate.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('curate.stages') or m in ('numpy', 'polars')))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip().splitlines()[-1] == "[]"


def test_the_help_defaults_table_equals_the_config_models() -> None:
    """`python -m curate.cli_defaults` (make docs) regenerates it when a default changes."""
    import json

    from curate.cli_defaults import FILE, table

    shipped = json.loads(FILE.read_text())
    assert shipped.keys() == table().keys(), "run `make docs` to regenerate src/curate/cli_defaults.json"
    for key, value in table().items():
        assert f"{shipped[key]}" == f"{value}", f"{key}: run `make docs`"
