"""``write_parquet_atomic``: polars frames through polars' writer, Arrow tables through pyarrow's;
either way the file reads back the same, and a failed write is the OSError it stands for."""

from __future__ import annotations

import errno
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from curate.io.shards import os_error_of, write_parquet_atomic


def _frame() -> pl.DataFrame:
    return pl.DataFrame({"id": ["a", "b"], "text": ["one text", "two"], "n": [1, 2]})


@pytest.mark.parametrize("codec", ["zstd", "lz4", "none"])
def test_a_frame_reads_back_the_same_and_pyarrow_sees_large_strings(tmp_path: Path, codec: str) -> None:
    path = tmp_path / "part.parquet"
    write_parquet_atomic(_frame(), path, codec)
    assert pl.read_parquet(path).equals(_frame())
    assert str(pq.read_schema(path).field("text").type) == "large_string"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_a_polars_write_error_naming_an_os_error_is_that_os_error(tmp_path: Path) -> None:
    err = pl.exceptions.ComputeError("parquet: File out of specification: underlying IO error: No space left on device (os error 28)")
    converted = os_error_of(err, tmp_path / "x.parquet")
    assert isinstance(converted, OSError) and converted.errno == errno.ENOSPC
    assert converted.filename == str(tmp_path / "x.parquet")


def test_any_other_polars_error_stays_itself(tmp_path: Path) -> None:
    err = pl.exceptions.ComputeError("something else")
    assert os_error_of(err, tmp_path / "x.parquet") is err


@pytest.mark.parametrize("arrow", [False, True])
def test_a_failed_write_leaves_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arrow: bool) -> None:
    def full(*args: object, **kwargs: object) -> None:
        (tmp_path / ".part.parquet.tmp-partial").write_bytes(b"PAR1")  # what a writer had begun
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("curate.io.shards.temporary_name", lambda path: tmp_path / ".part.parquet.tmp-partial")
    if arrow:
        monkeypatch.setattr(pq, "write_table", full)
    else:
        monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
    with pytest.raises(OSError, match="No space left"):
        write_parquet_atomic(_frame().to_arrow() if arrow else _frame(), tmp_path / "part.parquet")
    assert list(tmp_path.iterdir()) == []
