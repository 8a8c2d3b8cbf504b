"""Hostile and damaged input: every case is rejected with its reason, file and position, or stops
a --strict run with that message (exit 1); never a crash, a traceback, or silent loss."""

from __future__ import annotations

import os
import re
import zlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from conftest import fresh_python, read_dir, read_rejected
from curate.io import readers
from curate.io.discovery import InputFile, ReadTask
from curate.io.readers import ReadLimits, json_depth, read_task
from faults import bad_inputs as bad


def ingest(cli, tmp_path: Path, *inputs: object, extra: tuple[str, ...] = ()) -> tuple[pl.DataFrame, pl.DataFrame]:
    out = tmp_path / "out"
    result = cli("ingest", *inputs, "-o", out, "--workers", "1", "--quiet", "--overwrite", *extra)
    assert result.exit_code == 0, result.output
    return read_dir(out), read_rejected(out)


def read(path: Path, fmt: str = "jsonl", compression: str | None = None, limits: ReadLimits | None = None):
    """Reader-level: (records read, [(line, reason, detail, unit)], raw of each bad record)."""
    f = InputFile(str(path), path.name, fmt, compression, path.stat().st_size if path.exists() else 1, 0)
    n, bads, raws = 0, [], []
    for chunk in read_task(ReadTask(0, 0, (f,)), "text", 50_000, limits):
        n += chunk.table.num_rows
        bads += [(b.line, b.reason, b.detail, b.unit) for b in chunk.bad]
        raws += [b.raw for b in chunk.bad]
    return n, bads, raws


def one(rejected: pl.DataFrame) -> tuple[str, str]:
    assert rejected.height == 1, rejected
    return rejected.select("reject_reason", "reject_detail").row(0)


# ---------------------------------------------------------------- JSON Lines caps


def test_json_nested_100000_deep_is_rejected_not_a_crash(cli, tmp_path: Path) -> None:
    # pyarrow's JSON parser overflows its stack from ~20,000 levels (exit 139 before the screen)
    data = bad.jsonl_bytes(2) + b'{"text": "x", "meta": ' + bad.deeply_nested(100_000) + b"}\n" + bad.jsonl_bytes(2, 2)
    path = bad.write(tmp_path / "d.jsonl", data)
    kept, rejected = ingest(cli, tmp_path, path)
    assert sorted(kept["n"].to_list()) == [0, 1, 2, 3]
    assert one(rejected) == ("json_too_deep", "d.jsonl:3: JSON nested 100,001 levels deep, over the limit of 48")
    assert rejected["raw"][0].startswith('{"text": "x", "meta": [[[')


def test_depth_limit_is_exact_and_brackets_in_strings_do_not_nest(tmp_path: Path) -> None:
    at_limit = b'{"text": "x", "m": ' + bad.deeply_nested(47, b"{") + b"}\n"
    over = b'{"text": "y", "m": ' + bad.deeply_nested(48, b"{") + b"}\n"
    in_string = b'{"text": "' + b"[{" * 5000 + b'", "q": "\\"[[[[\\\\"}\n'
    path = bad.write(tmp_path / "d.jsonl", at_limit + over + in_string)
    n, bads, _ = read(path)
    assert n == 2
    assert bads == [(2, "json_too_deep", "JSON nested 49 levels deep, over the limit of 48", None)]


def test_json_depth_scan() -> None:
    assert json_depth(b'{"a": [1, {"b": []}]}') == 4
    assert json_depth(b'{"a": "[[[[{{{{"}') == 1
    assert json_depth(b'{"a": "\\"[[", "b": [[]]}') == 3  # an escaped quote does not end the string
    assert json_depth(b'{"a": "\\\\", "b": [[]]}') == 3  # an escaped backslash does not escape the quote
    assert json_depth(b"") == 0


def test_line_over_the_length_cap_is_rejected_and_the_rest_read(tmp_path: Path, monkeypatch) -> None:
    long = b'{"text": "' + b"x" * 5000 + b'"}\n'
    path = bad.write(tmp_path / "d.jsonl", bad.jsonl_bytes(3) + long + bad.jsonl_bytes(3, 3))
    limits = ReadLimits(max_line_bytes=1000)
    n, bads, raws = read(path, limits=limits)
    assert n == 6 and bads == [(4, "line_too_long", "line of 5,012 bytes, over the limit of 1,000", None)]
    # a line longer than a whole read block is skipped while streaming, never held whole
    monkeypatch.setattr(readers, "CHUNK_BYTES", 256)
    n, bads2, raws2 = read(path, limits=limits)
    assert n == 6 and bads2 == bads
    assert raws2[0].startswith('{"text": "xxx')


def test_line_cap_follows_max_chars() -> None:
    assert ReadLimits.for_max_chars(1_000_000).max_line_bytes == 12 * 1_000_000 + (1 << 20)
    assert ReadLimits().max_line_bytes == readers.line_cap(1_000_000)


def test_a_json_array_file_gets_a_hint(cli, tmp_path: Path) -> None:
    path = bad.write(tmp_path / "d.json", b'[{"text": "a"}, {"text": "b"}]\n')
    _, rejected = ingest(cli, tmp_path, path)
    assert one(rejected) == (
        "not_an_object",
        "d.json:1: expected a JSON object, got list; the file looks like a JSON array, not JSON Lines: "
        "one object per line expected",
    )


# ---------------------------------------------------------------- damaged compressed files


def _gzip_prefix_stats(path: Path) -> tuple[int, int]:
    """(bytes decodable from a truncated gzip file, complete lines in them)."""
    out = zlib.decompressobj(31).decompress(path.read_bytes())
    return len(out), out.count(b"\n")


def test_truncated_gzip_keeps_what_was_read_and_names_the_damage(cli, tmp_path: Path) -> None:
    path = bad.gzip_file(tmp_path / "d.jsonl.gz", bad.jsonl_bytes(2000), keep=0.5)
    size = path.stat().st_size
    produced, complete = _gzip_prefix_stats(path)
    kept, rejected = ingest(cli, tmp_path, path)
    assert kept["n"].sort().to_list() == list(range(complete))
    reason, detail = one(rejected)
    assert reason == "damaged_file"
    assert detail.startswith(
        f"d.jsonl.gz:{complete + 1}: truncated gzip file: it ends at byte {size} inside the compressed stream "
        f"({produced} bytes decompressed); line {complete + 1} was cut off by it ("
    )
    assert rejected["raw"][0].startswith('{"text": "record ')


def test_truncated_gzip_under_strict_stops_with_the_message(cli, tmp_path: Path) -> None:
    path = bad.gzip_file(tmp_path / "d.jsonl.gz", bad.jsonl_bytes(2000), keep=0.5)
    size = path.stat().st_size
    result = cli("ingest", path, "-o", tmp_path / "out", "--strict", "--workers", "1", "-q")
    assert result.exit_code == 1
    assert f"truncated gzip file: it ends at byte {size}" in result.stderr and "(damaged_file)" in result.stderr
    assert "Traceback" not in result.output and "Aborted" not in result.output


def test_corrupt_gzip_is_placed_by_compressed_offset(tmp_path: Path) -> None:
    path = bad.gzip_file(tmp_path / "d.jsonl.gz", bad.jsonl_bytes(2000))
    bad.flip_bytes(path, path.stat().st_size // 2)
    n, bads, _ = read(path, compression="gzip")
    damage = [b for b in bads if b[1] == "damaged_file"]
    assert len(damage) == 1 and 0 < n < 2000
    assert re.fullmatch(r"damaged gzip file: corrupt data at compressed byte \d+ \(\d+ bytes decompressed\): .+", damage[0][2].split(";")[0])
    # what zlib decoded before noticing may be garbled: such lines are rejected, never kept wrong
    assert n + len(bads) <= 2001


def test_gzip_checksum_mismatch_and_trailing_garbage(tmp_path: Path) -> None:
    data = bad.jsonl_bytes(50)
    path = bad.gzip_file(tmp_path / "d.jsonl.gz", data)
    bad.flip_bytes(path, path.stat().st_size - 8, 1)  # the CRC-32 in the trailer
    n, bads, _ = read(path, compression="gzip")
    assert n == 50 and [b[1] for b in bads] == ["damaged_file"]
    assert bads[0][2].endswith("checksum mismatch (CRC-32)")
    clean = bad.gzip_file(tmp_path / "e.jsonl.gz", data)
    size = clean.stat().st_size
    bad.write(clean, clean.read_bytes() + b"\0\0" + b"junk")
    n, bads, _ = read(clean, compression="gzip")
    assert n == 50 and bads == [(
        51, "damaged_file",
        f"damaged gzip file: the bytes from offset {size + 2} on are not gzip data "
        f"(after 1 complete member(s), {len(data)} bytes decompressed)", None,
    )]


def test_file_named_gz_that_is_not_gzip(cli, tmp_path: Path) -> None:
    path = bad.write(tmp_path / "d.jsonl.gz", bad.jsonl_bytes(3))
    kept, rejected = ingest(cli, tmp_path, path)
    assert kept.height == 0
    assert one(rejected) == (
        "damaged_file", "d.jsonl.gz:1: not a gzip file: it starts with bytes 7b 22 74 65, not the gzip signature 1f 8b"
    )


def test_truncated_zstd_is_no_longer_silent(cli, tmp_path: Path) -> None:
    # before: 61 of 100 records gone, exit 0, nothing said
    path = bad.zstd_file(tmp_path / "d.jsonl.zst", bad.jsonl_bytes(100), keep=0.6, frames=10)
    size = path.stat().st_size
    kept, rejected = ingest(cli, tmp_path, path)
    reason, detail = one(rejected)
    assert reason == "damaged_file" and 0 < kept.height < 100
    assert kept["n"].sort().to_list() == list(range(kept.height))
    assert re.fullmatch(
        rf"d\.jsonl\.zst:{kept.height + 1}: truncated zstd file: it ends at byte {size} inside a compressed frame "
        r"\(\d+ bytes decompressed\)(; line \d+ was cut off by it \(.*)?",
        detail,
    )


def test_zstd_multi_frame_and_not_zstd(tmp_path: Path) -> None:
    path = bad.zstd_file(tmp_path / "d.jsonl.zst", bad.jsonl_bytes(100), frames=7)
    assert read(path, compression="zstd")[:2] == (100, [])
    plain = bad.write(tmp_path / "e.jsonl.zst", bad.jsonl_bytes(3))
    assert read(plain, compression="zstd")[1] == [
        (1, "damaged_file", "not a zstd file: it starts with bytes 7b 22 74 65, not the zstd signature 28 b5 2f fd", None)
    ]


def test_truncated_compressed_csv_and_txt(tmp_path: Path) -> None:
    rows = b"text,n\n" + b"".join(b'"row %d",%d\n' % (i, i) for i in range(3000))
    path = bad.gzip_file(tmp_path / "d.csv.gz", rows, keep=0.5)
    n, bads, _ = read(path, "csv", "gzip")
    assert 0 < n < 3000 and len(bads) == 1
    line, reason, detail, unit = bads[0]
    assert (line, reason, unit) == (n + 1, "damaged_file", "row")
    assert detail.endswith(f"the rows from row {n + 1:,} on were not read") and detail.startswith("truncated gzip file")
    txt = bad.gzip_file(tmp_path / "note.txt.gz", b"a long note " * 5000, keep=0.5)
    n, bads, raws = read(txt, "txt", "gzip")
    assert n == 0 and [(b[1], b[3]) for b in bads] == [("damaged_file", "file")]
    assert raws[0].startswith("a long note")


# ---------------------------------------------------------------- empty, unreadable, Parquet


@pytest.mark.parametrize("name", ["d.jsonl", "d.parquet", "d.csv", "d.jsonl.gz"])
def test_zero_byte_file(cli, tmp_path: Path, name: str) -> None:
    path = bad.write(tmp_path / name, b"")
    kept, rejected = ingest(cli, tmp_path, path)
    assert kept.height == 0
    assert one(rejected) == ("empty_file", f"{name}: the file is empty (0 bytes)")


def test_unreadable_file(tmp_path: Path) -> None:
    folder = tmp_path / "d.jsonl"  # opening a folder fails for root too
    folder.mkdir()
    assert read(folder)[1] == [(0, "unreadable_file", "cannot open the file: is a directory", "file")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file (the folder case covers the code path)")
def test_permission_denied(cli, tmp_path: Path) -> None:
    path = bad.write(tmp_path / "d.jsonl", bad.jsonl_bytes(3))
    path.chmod(0)
    try:
        _, rejected = ingest(cli, tmp_path, path)
    finally:
        path.chmod(0o644)
    assert one(rejected) == ("unreadable_file", "d.jsonl: cannot open the file: permission denied")


def test_truncated_parquet_names_the_file(cli, tmp_path: Path) -> None:
    path = bad.parquet_file(tmp_path / "d.parquet", 300, 100)
    bad.write(path, path.read_bytes()[: path.stat().st_size // 2])
    kept, rejected = ingest(cli, tmp_path, path)
    assert kept.height == 0
    reason, detail = one(rejected)
    assert reason == "damaged_file"
    assert detail.startswith(
        f"d.parquet: damaged Parquet file ({path.stat().st_size:,} bytes): its footer cannot be read: "
        "Parquet magic bytes not found in footer"
    )


def test_damaged_parquet_row_group_keeps_the_others(cli, tmp_path: Path) -> None:
    path = bad.damage_row_group(bad.parquet_file(tmp_path / "d.parquet", 300, 100), 1)
    kept, rejected = ingest(cli, tmp_path, path)
    assert kept["n"].sort().to_list() == list(range(100)) + list(range(200, 300))
    reason, detail = one(rejected)
    assert reason == "damaged_file"
    assert detail.startswith(
        "d.parquet:row 101: damaged Parquet file: row group 1 (rows 101-200) cannot be read from row 101 on "
        "(100 rows not read): "
    )
    assert "\n" not in detail


def test_damaged_parquet_under_strict(cli, tmp_path: Path) -> None:
    path = bad.damage_row_group(bad.parquet_file(tmp_path / "d.parquet", 300, 100), 1)
    result = cli("ingest", path, "-o", tmp_path / "out", "--strict", "--workers", "1", "-q")
    assert result.exit_code == 1
    assert "d.parquet:row 101: damaged Parquet file: row group 1" in result.stderr
    assert "Traceback" not in result.output and "Aborted" not in result.output


# ---------------------------------------------------------------- CSV, ids


def test_headerless_csv_says_the_text_column_is_missing(cli, tmp_path: Path) -> None:
    path = bad.write(tmp_path / "d.csv", b"first document,1\nsecond document,2\n")
    kept, rejected = ingest(cli, tmp_path, path)
    assert kept.height == 0
    rows = rejected.sort("reject_detail").select("reject_reason", "reject_detail").rows()
    assert rows == [
        (
            "missing_text_column",
            "d.csv: no 'text' column: the header row has 'first document', '1'; a file without a header row "
            "has its first row read as the header (set text_field to the column that holds the text)",
        ),
        ("missing_text", "d.csv:row 1: no 'text' column (the file's columns: 'first document', '1')"),
    ]
    assert rejected.filter(pl.col("reject_reason") == "missing_text_column")["raw"].to_list() == ["first document,1"]


def test_ragged_csv_rows_get_their_row_numbers_and_unique_ids(cli, tmp_path: Path) -> None:
    path = bad.write(tmp_path / "d.csv", b'text,n\n"one",1\n"bad",2,x\n"three",3\n"bad too",4,y\n"five",5\n')
    kept, rejected = ingest(cli, tmp_path, path)
    assert sorted(kept["text"].to_list()) == ["five", "one", "three"]
    assert sorted(rejected["reject_detail"].to_list()) == [
        "d.csv:row 2: expected 2 columns, got 3", "d.csv:row 4: expected 2 columns, got 3"
    ]
    ids = kept["id"].to_list() + rejected["id"].to_list()
    assert len(set(ids)) == 5 and "" not in ids


def test_kept_row_numbers_count_skipped_rows(tmp_path: Path) -> None:
    path = bad.write(tmp_path / "d.csv", b'text,n\n"one",1\n"bad",2,x\n"three",3\n')
    f = InputFile(str(path), "d.csv", "csv", None, path.stat().st_size, 0)
    lines = np.concatenate([c.lines for c in read_task(ReadTask(0, 0, (f,)), "text", 100)])
    assert lines.tolist() == [1, 3]


def test_missing_id_rejects_get_unique_ids(cli, tmp_path: Path) -> None:
    path = bad.write(tmp_path / "d.jsonl", b'{"text": "a", "id": "x1"}\n{"text": "b"}\n{"text": "c", "id": ""}\n{"text": "b"}\n')
    kept, rejected = ingest(cli, tmp_path, path)
    assert kept["id"].to_list() == ["x1"]
    assert rejected["reject_reason"].to_list() == ["missing_id"] * 3
    assert rejected["id"].n_unique() == 3 and "" not in rejected["id"].to_list()


def test_ids_stay_unique_across_bad_and_kept_records(cli, tmp_path: Path) -> None:
    data = bad.jsonl_bytes(5) + b"{oops\n" + b"[1]\n" + b'{"text": ""}\n' + bad.jsonl_bytes(5, 5)
    path = bad.gzip_file(tmp_path / "d.jsonl.gz", data + data[:40], keep=1.0)
    bad.write(path, path.read_bytes()[:-3])  # truncated too: a damage record after the last line
    kept, rejected = ingest(cli, tmp_path, path)
    ids = kept["id"].to_list() + rejected["id"].to_list()
    assert len(ids) == len(set(ids))
    assert "damaged_file" in rejected["reject_reason"].to_list()


# ---------------------------------------------------------------- config and environment


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    from curate.config import load_config
    from curate.errors import ConfigError

    path = tmp_path / "c.yaml"
    path.write_text("input:\n  paths: a.jsonl\n  max_chars: 10\n  max_chars: 20\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.message == f"{path}: not valid YAML at line 4, column 3: duplicate key 'max_chars' (first given at line 3)"


def test_language_id_runs_where_numba_cannot_cache() -> None:
    pytest.importorskip("py3langid")
    code = (
        "import numba.core.caching as c; c.CacheImpl._locator_classes = []\n"
        "import polars as pl\n"
        "from curate.quality.langid import LanguageIdentifier\n"
        "print(LanguageIdentifier(backend='py3langid').identify(pl.Series(['This is a sentence written in English about the sea.']))"
        "['lang'].to_list())\n"
    )
    assert fresh_python(code, timeout=300) == "['en']"
