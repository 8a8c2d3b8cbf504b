"""The `curate` command ends without the interpreter's teardown (``cli._exit_without_teardown``),
yet as Python's own exit would: threads joined, ``atexit`` handlers run, every line of output
written, the same exit status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import fresh_python, make_records, write_jsonl


def test_other_threads_are_joined_and_atexit_handlers_run_before_the_process_ends() -> None:
    out = fresh_python(
        "import atexit, sys, threading, time\n"
        "from curate.cli import main\n"
        "atexit.register(lambda: print('atexit ran', flush=False))\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), print('thread ended', flush=False))).start()\n"
        "sys.argv = ['curate', '--version']\n"
        "main()\n"
        "print('never reached')"
    )
    lines = out.splitlines()
    assert lines[0].startswith("curate ") and lines[1:] == ["thread ended", "atexit ran"]


def test_a_command_s_whole_output_reaches_a_pipe_and_its_status_is_kept(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", make_records(50, seed=2, dup_every=4))
    ok = subprocess.run([sys.executable, "-m", "curate", "dedup", str(data), "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "minhash_dedup" in ok.stdout and ok.stdout.rstrip().endswith("┘")  # the summary table, to its last line
    bad = subprocess.run([sys.executable, "-m", "curate", "dedup", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o2")], capture_output=True, text=True)
    assert bad.returncode == 2 and "no input file matches" in bad.stderr
