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


def test_a_polars_write_error_naming_anos_error_of_is_thatos_error_of(tmp_path: Path) -> None:
    err = pl.exceptions.ComputeError("parquet: File out of specification: underlying IO error: No space left on device (os error 28)")
    converted = os_error_of(err, tmp_path / "x.parquet")
    assert isinstance(converted, OSError) and converted.errno == errno.ENOSPC
    assert converted.filename == str(tmp_path / "x.parquet")


def test_any_other_polars_error_stays_itself(tmp_path: Path) -> None:
    err = pl.exceptions.ComputeError("something else")
    assert os_error_of(err, tmp_path / "x.parquet") is err
