"""``prefetch``: a command's Parquet input read before curate has loaded, taken by ingest only if
it is the very read ingest makes, so it changes when work happens and never what is read."""

from __future__ import annotations

import hashlib
import os
import random
import threading
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curate import cli as cli_module
from curate.io import prefetch
from curate.io.parquet_chunks import parquet_chunks

ROWS, TEXT_BYTES = 50_000, 4096


def _parquet(path: Path, n: int = 300, seed: int = 0) -> Path:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(300)]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 80))) for _ in range(n)]
    texts += texts[:20]  # exact copies
    texts += [t + " more" for t in texts[20:40]]  # near copies
    pq.write_table(pa.table({"id": [f"d{i:05d}" for i in range(len(texts))], "text": texts}), path, row_group_size=97)
    return path


@pytest.fixture(autouse=True)
def _nothing_left_behind() -> Any:
    yield
    prefetch.discard()


def test_a_prefetched_read_gives_the_chunks_the_reader_makes(tmp_path: Path) -> None:
    path = str(_parquet(tmp_path / "in.parquet"))
    prefetch.start(path, "text", ROWS, TEXT_BYTES)
    early = prefetch.take(path, "text", ROWS, TEXT_BYTES)
    assert early is not None
    assert [t.to_pydict() for t in early] == [t.to_pydict() for t in parquet_chunks(path, ROWS, "text", TEXT_BYTES)]


def test_it_is_taken_once(tmp_path: Path) -> None:
    path = str(_parquet(tmp_path / "in.parquet"))
    prefetch.start(path, "text", ROWS, TEXT_BYTES)
    assert prefetch.take(path, "text", ROWS, TEXT_BYTES) is not None
    assert prefetch.take(path, "text", ROWS, TEXT_BYTES) is None


@pytest.mark.parametrize("other", [("body", ROWS, TEXT_BYTES), ("text", 100, TEXT_BYTES), ("text", ROWS, None)])
def test_a_read_with_other_settings_does_not_take_it(tmp_path: Path, other: tuple[str, int, int | None]) -> None:
    path = str(_parquet(tmp_path / "in.parquet"))
    prefetch.start(path, "text", ROWS, TEXT_BYTES)
    assert prefetch.take(path, *other) is None


def test_a_file_replaced_after_the_start_is_read_anew(tmp_path: Path) -> None:
    path = tmp_path / "in.parquet"
    _parquet(path, seed=1)
    prefetch.start(str(path), "text", ROWS, TEXT_BYTES)
    replacement = _parquet(tmp_path / "new.parquet", seed=2)
    os.replace(replacement, path)
    assert prefetch.take(str(path), "text", ROWS, TEXT_BYTES) is None


def test_the_same_file_named_otherwise_is_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _parquet(tmp_path / "in.parquet")
    prefetch.start(str(path), "text", ROWS, TEXT_BYTES)
    monkeypatch.chdir(tmp_path)
    assert prefetch.take("in.parquet", "text", ROWS, TEXT_BYTES) is not None


def test_discard_stops_a_read_nobody_took(tmp_path: Path) -> None:
    path = str(_parquet(tmp_path / "in.parquet", n=3000))
    prefetch.start(path, "text", ROWS, 1024)
    prefetch.discard()
    assert prefetch.take(path, "text", ROWS, 1024) is None
    assert not [t for t in threading.enumerate() if t.name == "curate-prefetch"]


def test_dedup_takes_the_prefetch_of_its_input_and_publishes_the_same_bytes(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _parquet(tmp_path / "in.parquet", n=2000)
    taken: list[bool] = []
    real_take = prefetch.take

    def take(*args: Any) -> Any:
        got = real_take(*args)
        taken.append(got is not None)
        return got

    monkeypatch.setattr(prefetch, "take", take)
    cli_module._prefetch_dedup_input([str(src), "-o", str(tmp_path / "early"), "-q"])
    assert cli("dedup", src, "-o", tmp_path / "early", "-q").exit_code == 0
    assert cli("dedup", src, "-o", tmp_path / "plain", "-q").exit_code == 0
    assert taken == [True, False]

    def digest(out: Path) -> dict[str, str]:
        return {str(p.relative_to(out)): hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*.parquet"))}

    assert digest(tmp_path / "early") == digest(tmp_path / "plain")
    assert sum(pl.read_parquet(p).height for p in (tmp_path / "early" / "rejected").glob("*.parquet")) > 0


@pytest.mark.parametrize(
    "args",
    [
        ["a.parquet", "b.parquet", "-o", "out"],  # two inputs
        ["a.jsonl", "-o", "out"],  # not Parquet
        ["missing.parquet", "-o", "out"],
        ["-o", "a.parquet"],  # the output, not an input
    ],
)
def test_only_a_single_local_parquet_input_is_prefetched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    _parquet(tmp_path / "a.parquet")
    _parquet(tmp_path / "b.parquet", seed=3)
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n')
    monkeypatch.chdir(tmp_path)
    started: list[str] = []
    monkeypatch.setattr(prefetch, "start", lambda path, *rest: started.append(path))
    cli_module._prefetch_dedup_input(args)
    assert started == []


def test_a_forked_worker_never_takes_its_parents_prefetch(tmp_path: Path) -> None:
    """Its reading thread stayed in the parent: taking it would wait forever."""
    import multiprocessing

    path = str(_parquet(tmp_path / "in.parquet"))
    prefetch.start(path, "text", ROWS, TEXT_BYTES)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        assert pool.apply(_take_in_worker, (path,)) is False
    assert prefetch.take(path, "text", ROWS, TEXT_BYTES) is not None


def _take_in_worker(path: str) -> bool:
    got = prefetch.take(path, "text", ROWS, TEXT_BYTES)
    prefetch.discard()  # nothing of the parent's to stop here
    return got is not None
