"""Every bad-input kind through the real CLI, in a subprocess.

Each case builds a small file (or config) in the test and says how many records it planted: the
records the product can see in it. A damaged file's unreadable remainder is one record (the
`damaged_file` reject that holds its position), so "planted" for a truncated file counts the
complete records before the damage plus that one. Asserted for every case: the exit code, no
`Traceback` anywhere, a clear message (stderr for errors; file and position in each reject's
detail), and kept + rejected == planted (from the output's `_manifest.json` and its Parquet
files). Cases with malformed records are run again with `--strict`: exit 1, file and position on
stderr.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from faults import bad_inputs as bad
from faults.conftest import (
    has_traceback,
    manifest,
    nobody_can_run,
    output_counts,
    record,
    run_cli,
    shared_tmp,
)

FULL = pytest.mark.faults_full


@dataclass
class Case:
    """``build(folder) -> (CLI args, planted)``; the expectations of one bad-input kind."""

    name: str
    build: Callable[[Path], tuple[list[str], int]]
    exit: int = 0
    reasons: frozenset[str] = frozenset()  # reject reasons that must appear
    message: tuple[str, ...] = ()  # substrings of stderr (errors) or of some reject_detail (exit 0)
    strict: str | None = None  # with --strict: exit 1 and this substring (file:position) on stderr
    timeout: float = 120
    as_nobody: bool = False
    fast: bool = False
    xfail: str | None = None


def ingest_args(*inputs: str, extra: tuple[str, ...] = ()) -> list[str]:
    return ["ingest", *inputs, "-o", "out", "-q", "-w", "1", *extra]


def jsonl(name: str, data: bytes, planted: int, extra: tuple[str, ...] = ()) -> Callable[[Path], tuple[list[str], int]]:
    def build(tmp: Path) -> tuple[list[str], int]:
        bad.write(tmp / name, data)
        return ingest_args(name, extra=extra), planted

    return build


def good(n: int, start: int = 0) -> bytes:
    return bad.jsonl_bytes(n, start)


# ---------------------------------------------------------------- builders needing computation


def truncated_gzip(tmp: Path) -> tuple[list[str], int]:
    path = bad.gzip_file(tmp / "d.jsonl.gz", good(2000), keep=0.5)
    out = zlib.decompressobj(31).decompress(path.read_bytes())
    return ingest_args("d.jsonl.gz"), out.count(b"\n") + 1  # complete lines + the damage record


def corrupt_gzip(tmp: Path) -> tuple[list[str], int]:
    path = bad.gzip_file(tmp / "d.jsonl.gz", good(2000))
    bad.flip_bytes(path, path.stat().st_size // 2)
    # 2,000 records, one damage record; lines zlib garbled before it noticed are rejected one by one
    return ingest_args("d.jsonl.gz"), 2001


def gzip_crc(tmp: Path) -> tuple[list[str], int]:
    path = bad.gzip_file(tmp / "d.jsonl.gz", good(50))
    bad.flip_bytes(path, path.stat().st_size - 8, 1)
    return ingest_args("d.jsonl.gz"), 51


def gzip_trailing_garbage(tmp: Path) -> tuple[list[str], int]:
    path = bad.gzip_file(tmp / "d.jsonl.gz", good(50))
    bad.write(path, path.read_bytes() + b"\0\0junk")
    return ingest_args("d.jsonl.gz"), 51


def truncated_zstd(tmp: Path) -> tuple[list[str], int]:
    import zstandard

    path = bad.zstd_file(tmp / "d.jsonl.zst", good(100), keep=0.6, frames=10)
    out = b""
    reader = zstandard.ZstdDecompressor().stream_reader(path.read_bytes(), read_across_frames=True)
    try:
        while block := reader.read(1 << 10):
            out += block
    except zstandard.ZstdError:
        pass
    return ingest_args("d.jsonl.zst"), out.count(b"\n") + 1  # complete lines + the damage record


def truncated_parquet(tmp: Path) -> tuple[list[str], int]:
    path = bad.parquet_file(tmp / "d.parquet", 300, 100)
    bad.write(path, path.read_bytes()[: path.stat().st_size // 2])
    return ingest_args("d.parquet"), 1


def corrupt_parquet(tmp: Path) -> tuple[list[str], int]:
    bad.damage_row_group(bad.parquet_file(tmp / "d.parquet", 300, 100), 1)
    return ingest_args("d.parquet"), 201  # 200 rows + the damage record of row group 1


def garbage_parquet(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "d.parquet", bytes(range(256)) * 40)
    return ingest_args("d.parquet"), 1


def parquet_footer_only(tmp: Path) -> tuple[list[str], int]:
    path = bad.parquet_file(tmp / "d.parquet", 50, 10)
    data = path.read_bytes()
    bad.write(path, b"PAR1" + b"\0" * 64 + data[-200:])  # a footer whose offsets point at nothing
    return ingest_args("d.parquet"), 1


def parquet_no_text(tmp: Path) -> tuple[list[str], int]:
    bad.parquet_table(tmp / "d.parquet", {"body": ["a", "b", "c"], "n": [1, 2, 3]})
    return ingest_args("d.parquet"), 3  # each row rejected as missing_text, naming the file's columns


def parquet_int_text(tmp: Path) -> tuple[list[str], int]:
    bad.parquet_table(tmp / "d.parquet", {"text": [1, 2, 3]})
    return ingest_args("d.parquet"), 3


def parquet_null_text(tmp: Path) -> tuple[list[str], int]:
    bad.parquet_table(tmp / "d.parquet", {"text": ["a real text", None, "another text"]})
    return ingest_args("d.parquet"), 3


def duplicate_ids_across_files(tmp: Path) -> tuple[list[str], int]:
    recs = [{"id": f"x{i}", "text": f"document {i} in a"} for i in range(5)]
    bad.write(tmp / "a.jsonl", bad.records_bytes(recs))
    bad.write(tmp / "b.jsonl", bad.records_bytes([{**r, "text": r["text"] + " and b"} for r in recs]))
    return ingest_args("a.jsonl", "b.jsonl"), 10


def same_file_symlinked(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "a.jsonl", good(10))
    (tmp / "b.jsonl").symlink_to("a.jsonl")
    return ingest_args("a.jsonl", "b.jsonl"), 20


def same_path_twice(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "a.jsonl", good(10))
    return ingest_args("a.jsonl", "a.jsonl", "./a.jsonl"), 10  # one file, read once


def hardlinked(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "a.jsonl", good(10))
    os.link(tmp / "a.jsonl", tmp / "b.jsonl")
    return ingest_args("a.jsonl", "b.jsonl"), 20


def directory_named_like_file(tmp: Path) -> tuple[list[str], int]:
    (tmp / "d.jsonl").mkdir()
    bad.write(tmp / "d.jsonl" / "inner.txt", b"a text file inside a folder named d.jsonl")
    return ingest_args("d.jsonl"), 1


def empty_directory_named_like_file(tmp: Path) -> tuple[list[str], int]:
    (tmp / "d.jsonl").mkdir()
    return ingest_args("d.jsonl"), 0


def glob_of_directory(tmp: Path) -> tuple[list[str], int]:
    (tmp / "in").mkdir()
    (tmp / "in" / "x.jsonl").mkdir()  # the glob matches a folder
    bad.write(tmp / "in" / "y.jsonl", good(3))
    return ingest_args("in/*.jsonl"), 3  # the folder holds no documents


def symlink_loop(tmp: Path) -> tuple[list[str], int]:
    bad.symlink_loop(tmp)
    bad.write(tmp / "ok.jsonl", good(3))
    return ingest_args("d.jsonl", "ok.jsonl"), 4


def dangling_symlink(tmp: Path) -> tuple[list[str], int]:
    (tmp / "d.jsonl").symlink_to("gone.jsonl")
    return ingest_args("d.jsonl"), 0


def fifo(tmp: Path) -> tuple[list[str], int]:
    bad.fifo(tmp / "d.jsonl")
    bad.write(tmp / "ok.jsonl", good(3))
    return ingest_args("d.jsonl", "ok.jsonl"), 4


def fifo_in_folder(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "docs" / "a.txt", b"a text document in a folder")
    bad.fifo(tmp / "docs" / "pipe.txt")
    return ingest_args("docs"), 1  # a pipe is not a document (and is never opened: no hang)


def unreadable_as_nobody(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "d.jsonl", good(3)).chmod(0)
    bad.write(tmp / "ok.jsonl", good(3, 3)).chmod(0o644)
    return ingest_args("d.jsonl", "ok.jsonl"), 4


def unreadable_folder_as_nobody(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "docs" / "secret" / "a.txt", b"a text nobody may read")
    bad.write(tmp / "docs" / "b.txt", b"a text anybody may read")
    (tmp / "docs" / "secret").chmod(0)
    return ingest_args("docs"), 2


def many_columns_csv(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "d.csv", bad.wide_csv(10_000, 3))
    return ingest_args("d.csv"), 3


def csv_unterminated_quote(tmp: Path) -> tuple[list[str], int]:
    # `"two,2\n"three",3`: a quoted field spanning a newline, read as CSV readers do (one record)
    bad.write(tmp / "d.csv", b'text,n\n"one",1\n"two,2\n"three",3\n')
    return ingest_args("d.csv"), 2


def csv_with_bom(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "d.csv", b"\xef\xbb\xbftext,n\n\"one\",1\n\"two\",2\n")
    return ingest_args("d.csv"), 2


def csv_header_only(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "d.csv", b"text,n\n")
    return ingest_args("d.csv"), 0


def csv_nul(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "d.csv", b'text,n\n"one",1\n"t\x00wo",2\n"three",3\n')
    return ingest_args("d.csv"), 3


def csv_invalid_utf8(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "d.csv", b'text,n\n"one",1\n"t\xff\xfewo",2\n"three",3\n')
    return ingest_args("d.csv"), 3


def tsv_ragged(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "d.tsv", b"text\tn\none\t1\ntwo\t2\tx\nthree\t3\n")
    return ingest_args("d.tsv"), 3


def txt_invalid_utf8(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "docs" / "a.txt", b"fine text")
    bad.write(tmp / "docs" / "b.txt", b"broken \xff\xfe text")
    return ingest_args("docs"), 2


def txt_empty(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "docs" / "a.txt", b"fine text")
    bad.write(tmp / "docs" / "b.txt", b"")
    return ingest_args("docs"), 2


def truncated_gzip_csv(tmp: Path) -> tuple[list[str], int]:
    rows = b"text,n\n" + b"".join(b'"row %d",%d\n' % (i, i) for i in range(3000))
    path = bad.gzip_file(tmp / "d.csv.gz", rows, keep=0.5)
    out = zlib.decompressobj(31).decompress(path.read_bytes())
    return ingest_args("d.csv.gz"), out.count(b"\n") - 1 + 1  # complete rows (less the header) + the damage record


def gzip_of_nothing(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "d.jsonl.gz", gzip.compress(b"", mtime=0))
    return ingest_args("d.jsonl.gz"), 0  # a valid gzip stream of no bytes holds no record


def unknown_extension(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "d.xml", b"<doc>text</doc>\n")
    return ingest_args("d.xml"), 0


def missing_path(tmp: Path) -> tuple[list[str], int]:
    return ingest_args("nowhere.jsonl"), 0


def empty_glob(tmp: Path) -> tuple[list[str], int]:
    return ingest_args("in/*.jsonl"), 0


def output_is_a_file(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "d.jsonl", good(3))
    bad.write(tmp / "out", b"i am a file")
    return ingest_args("d.jsonl"), 0


def output_not_empty(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "d.jsonl", good(3))
    bad.write(tmp / "out" / "keep.txt", b"user data")
    return ingest_args("d.jsonl"), 0


def output_is_the_input(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "in" / "d.jsonl", good(3))
    return ["ingest", "in", "-o", "in", "-q", "--overwrite"], 0


def bad_format_flag(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "d.jsonl", good(3))
    return ingest_args("d.jsonl", extra=("--format", "xml")), 0


def text_field_absent(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "d.jsonl", good(3))
    return ingest_args("d.jsonl", extra=("--text-field", "body")), 3


def id_field_mixed(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "d.jsonl", bad.records_bytes([{"id": 5, "text": "a"}, {"id": ["x"], "text": "b"}, {"id": None, "text": "c"}, {"id": "ok", "text": "d"}]))
    return ingest_args("d.jsonl"), 4


def mixed_metadata_types(tmp: Path) -> tuple[list[str], int]:
    recs = [{"text": "a", "m": 1}, {"text": "b", "m": "x"}, {"text": "c", "m": [1]}, {"text": "d", "m": {"k": 1}}, {"text": "e", "m": None}]
    bad.write(tmp / "d.jsonl", bad.records_bytes(recs))
    return ingest_args("d.jsonl"), 5


def metadata_named_like_core(tmp: Path) -> tuple[list[str], int]:
    bad.write(tmp / "d.jsonl", bad.records_bytes([{"text": "a", "source": 5, "orig_source": "x"}, {"text": "b", "source": "s"}]))
    return ingest_args("d.jsonl"), 2


def shard_boundaries(tmp: Path) -> tuple[list[str], int]:
    data = good(50) + b"{bad\n" + good(50, 50) + b"\xff\n" + good(50, 100)
    bad.write(tmp / "d.jsonl", data)
    return ingest_args("d.jsonl", extra=("--rows-per-shard", "7", "-w", "2", "--max-chars", "100000")), 152


# ---------------------------------------------------------------- config cases (curate run), exit 2


def config(text: str, data: bool = True, args: tuple[str, ...] = ()) -> Callable[[Path], tuple[list[str], int]]:
    def build(tmp: Path) -> tuple[list[str], int]:
        if data:
            bad.write(tmp / "data.jsonl", good(5))
        (tmp / "c.yaml").write_text(text) if isinstance(text, str) else (tmp / "c.yaml").write_bytes(text)
        return ["run", "c.yaml", "-q", *args], 0

    return build


def config_bytes(data: bytes) -> Callable[[Path], tuple[list[str], int]]:
    def build(tmp: Path) -> tuple[list[str], int]:
        bad.write(tmp / "data.jsonl", good(5))
        bad.write(tmp / "c.yaml", data)
        return ["run", "c.yaml", "-q"], 0

    return build


def config_dir(tmp: Path) -> tuple[list[str], int]:
    (tmp / "c.yaml").mkdir()
    return ["run", "c.yaml", "-q"], 0


def deep_rule(depth: int) -> str:
    return "(" * depth + "gopher_word_count > 3" + ")" * depth


def wide_or(n: int) -> str:
    return " or ".join(f"gopher_word_count == {i}" for i in range(n))


BASE = "input: {paths: [data.jsonl]}\nworkdir: work\noutput: {path: out}\n"

CASES: list[Case] = [
    # JSON Lines
    Case("json_nested_100000_deep", jsonl("d.jsonl", good(2) + b'{"text": "x", "meta": ' + bad.deeply_nested(100_000) + b"}\n" + good(2, 2), 5),
         reasons=frozenset({"json_too_deep"}), message=("d.jsonl:3:",), strict="d.jsonl:3"),
    Case("json_object_nested_100000_deep", jsonl("d.jsonl", good(1) + bad.deeply_nested(100_000, b"{") + b"\n", 2),
         reasons=frozenset({"json_too_deep"}), message=("d.jsonl:2:",), strict="d.jsonl:2"),
    Case("very_long_line", jsonl("d.jsonl", good(3) + b'{"text": "' + b"x" * 1_200_000 + b'"}\n' + good(3, 3), 7, ("--max-chars", "1000")),
         reasons=frozenset({"line_too_long"}), message=("d.jsonl:4:",), strict="d.jsonl:4"),
    Case("text_too_long", jsonl("d.jsonl", good(2) + b'{"text": "' + b"y" * 500 + b'"}\n', 3, ("--max-chars", "100")),
         reasons=frozenset({"text_too_long"}), message=("d.jsonl:3",), strict="d.jsonl:3"),
    Case("truncated_gzip", truncated_gzip, reasons=frozenset({"damaged_file"}), message=("truncated gzip file",), strict="d.jsonl.gz:"),
    Case("corrupt_gzip", corrupt_gzip, reasons=frozenset({"damaged_file"}), message=("damaged gzip file",), strict="d.jsonl.gz"),
    Case("gzip_crc_mismatch", gzip_crc, reasons=frozenset({"damaged_file"}), message=("checksum mismatch",), strict="d.jsonl.gz"),
    Case("gzip_trailing_garbage", gzip_trailing_garbage, reasons=frozenset({"damaged_file"}), message=("not gzip data",), strict="d.jsonl.gz"),
    Case("gzip_of_nothing", gzip_of_nothing),
    Case("not_gzip_dot_gz", jsonl("d.jsonl.gz", good(3), 1), reasons=frozenset({"damaged_file"}), message=("d.jsonl.gz:1: not a gzip file",),
         strict="d.jsonl.gz:1", fast=True),
    Case("truncated_zstd", truncated_zstd, reasons=frozenset({"damaged_file"}), message=("truncated zstd file",), strict="d.jsonl.zst", fast=True),
    Case("not_zstd_dot_zst", jsonl("d.jsonl.zst", good(3), 1), reasons=frozenset({"damaged_file"}), message=("not a zstd file",), strict="d.jsonl.zst:1"),
    Case("zero_byte_jsonl", jsonl("d.jsonl", b"", 1), reasons=frozenset({"empty_file"}), message=("d.jsonl: the file is empty",), strict="d.jsonl"),
    Case("zero_byte_csv", jsonl("d.csv", b"", 1), reasons=frozenset({"empty_file"}), strict="d.csv"),
    Case("zero_byte_gz", jsonl("d.jsonl.gz", b"", 1), reasons=frozenset({"empty_file"}), strict="d.jsonl.gz"),
    Case("zero_byte_parquet", jsonl("d.parquet", b"", 1), reasons=frozenset({"empty_file"}), message=("d.parquet: the file is empty",), strict="d.parquet", fast=True),
    Case("truncated_parquet", truncated_parquet, reasons=frozenset({"damaged_file"}), message=("damaged Parquet file",), strict="d.parquet"),
    Case("corrupt_parquet_row_group", corrupt_parquet, reasons=frozenset({"damaged_file"}), message=("d.parquet:row 101",), strict="d.parquet:row 101", fast=True),
    Case("garbage_named_parquet", garbage_parquet, reasons=frozenset({"damaged_file"}), strict="d.parquet"),
    Case("parquet_footer_pointing_nowhere", parquet_footer_only, reasons=frozenset({"damaged_file"}), strict="d.parquet"),
    Case("parquet_without_text_column", parquet_no_text, reasons=frozenset({"missing_text"}), message=("no 'text' column",), strict="d.parquet:row 1"),
    Case("parquet_integer_text", parquet_int_text, reasons=frozenset({"invalid_text_type"}), strict="d.parquet"),
    Case("parquet_null_text", parquet_null_text, reasons=frozenset({"missing_text"}), strict="d.parquet"),
    Case("json_array_in_dot_json", jsonl("d.json", b'[{"text": "a"}, {"text": "b"}]\n', 1), reasons=frozenset({"not_an_object"}),
         message=("looks like a JSON array",), strict="d.json:1", fast=True),
    Case("scalars_not_objects", jsonl("d.jsonl", good(1) + b'42\n"a string"\nnull\ntrue\n', 5), reasons=frozenset({"not_an_object"}), strict="d.jsonl:2"),
    Case("invalid_json", jsonl("d.jsonl", good(2) + b"{oops\n" + good(2, 2), 5), reasons=frozenset({"invalid_json"}), message=("d.jsonl:3",), strict="d.jsonl:3"),
    Case("truncated_last_line", jsonl("d.jsonl", good(3) + b'{"text": "cut sho', 4), reasons=frozenset({"invalid_json"}), strict="d.jsonl:4"),
    Case("invalid_utf8", jsonl("d.jsonl", good(2) + b'{"text": "caf\xe9 \xff"}\n' + good(1, 2), 4), reasons=frozenset({"invalid_utf8"}),
         message=("d.jsonl:3",), strict="d.jsonl:3", fast=True),
    Case("nul_bytes_raw", jsonl("d.jsonl", good(2) + b'{"text": "nul \x00 inside"}\n' + b"\x00\x00\x00\n" + good(1, 2), 5), strict="d.jsonl:3", fast=True),
    Case("nul_escaped", jsonl("d.jsonl", good(2) + b'{"text": "nul \\u0000 escaped"}\n', 3)),
    Case("utf8_bom", jsonl("d.jsonl", b"\xef\xbb\xbf" + good(3), 3)),
    Case("crlf_line_endings", jsonl("d.jsonl", bad.crlf(good(5)), 5), fast=True),
    Case("crlf_csv", jsonl("d.csv", b'text,n\r\n"one",1\r\n"two",2\r\n', 2)),
    Case("lone_surrogates", jsonl("d.jsonl", good(1) + b'{"text": "lone \\ud800 high"}\n{"text": "lone \\udc00 low"}\n{"text": "pair \\ud83d\\ude00 ok"}\n', 4), fast=True),
    Case("numbers_as_text", jsonl("d.jsonl", good(1) + b'{"text": 12345}\n{"text": 1.5}\n', 3), reasons=frozenset({"invalid_text_type"}), strict="d.jsonl:2", fast=True),
    Case("null_text", jsonl("d.jsonl", good(1) + b'{"text": null}\n', 2), reasons=frozenset({"missing_text"}), strict="d.jsonl:2"),
    Case("missing_text_key", jsonl("d.jsonl", good(1) + b'{"body": "no text key"}\n', 2), reasons=frozenset({"missing_text"}), strict="d.jsonl:2"),
    Case("text_as_list", jsonl("d.jsonl", good(1) + b'{"text": ["a", "b"]}\n{"text": {"k": "v"}}\n', 3), reasons=frozenset({"invalid_text_type"}), strict="d.jsonl:2"),
    Case("text_type_flips", jsonl("d.jsonl", b'{"text": 1}\n' + good(3) + b'{"text": true}\n', 5), reasons=frozenset({"invalid_text_type"}), strict="d.jsonl:1"),
    Case("huge_numbers", jsonl("d.jsonl", good(1) + b'{"text": "big", "n": 1' + b"0" * 400 + b'}\n{"text": "bigger", "n": 1e400}\n{"text": "neg", "n": -1' + b"0" * 30 + b"}\n", 4)),
    Case("deeply_nested_metadata", jsonl("d.jsonl", good(2) + b'{"text": "deep", "meta": ' + bad.deeply_nested(500, b"{") + b"}\n", 3),
         reasons=frozenset({"json_too_deep"})),
    Case("columns_10000_jsonl", jsonl("d.jsonl", bad.many_columns(10_000) + good(2), 3)),
    Case("columns_10000_csv", many_columns_csv),
    Case("duplicate_json_keys", jsonl("d.jsonl", b'{"text": "first", "text": "second"}\n' + good(1), 2)),
    Case("mixed_metadata_types", mixed_metadata_types),
    Case("metadata_named_like_core", metadata_named_like_core),
    Case("empty_lines_only", jsonl("d.jsonl", b"\n\n   \n\t\n\n", 0)),
    Case("whitespace_only_texts", jsonl("d.jsonl", good(1) + b'{"text": "   "}\n{"text": "\\t\\n\\r"}\n{"text": ""}\n{"text": "\\u00a0\\u2003"}\n', 5),
         reasons=frozenset({"empty_text"}), strict="d.jsonl:2"),
    Case("missing_ids", jsonl("d.jsonl", b'{"text": "a", "id": "x1"}\n{"text": "b"}\n{"text": "c", "id": ""}\n{"text": "b"}\n', 4),
         reasons=frozenset({"missing_id"}), strict="d.jsonl:2"),
    Case("ids_of_other_types", id_field_mixed),
    Case("duplicate_ids_across_files", duplicate_ids_across_files, reasons=frozenset({"duplicate_id"}), message=("a.jsonl",), strict="b.jsonl", fast=True),
    Case("same_file_symlinked", same_file_symlinked),
    Case("same_path_twice", same_path_twice),
    Case("same_file_hardlinked", hardlinked),
    Case("shard_boundaries_with_bad_records", shard_boundaries, reasons=frozenset({"invalid_json", "invalid_utf8"}), strict="d.jsonl:51"),
    Case("text_field_absent", text_field_absent, reasons=frozenset({"missing_text"})),
    # CSV, TSV, txt
    Case("headerless_csv", jsonl("d.csv", b"first document,1\nsecond document,2\n", 2), reasons=frozenset({"missing_text_column"}),
         message=("no 'text' column",), strict="d.csv"),
    Case("ragged_csv_rows", jsonl("d.csv", b'text,n\n"one",1\n"bad",2,x\n"three",3\n"bad too",4,y\n"five",5\n', 5),
         reasons=frozenset({"malformed_row"}), message=("d.csv:row 2",), strict="d.csv:row 2", fast=True),
    Case("csv_unterminated_quote", csv_unterminated_quote),
    Case("csv_with_bom", csv_with_bom),
    Case("csv_header_only", csv_header_only),
    Case("csv_nul_byte", csv_nul),
    Case("csv_invalid_utf8", csv_invalid_utf8, reasons=frozenset({"invalid_utf8"}), strict="d.csv:row 2"),
    Case("tsv_ragged", tsv_ragged, reasons=frozenset({"malformed_row"}), strict="d.tsv:row 2"),
    Case("truncated_gzip_csv", truncated_gzip_csv, reasons=frozenset({"damaged_file"}), strict="d.csv.gz"),
    Case("txt_invalid_utf8", txt_invalid_utf8, reasons=frozenset({"invalid_utf8"}), strict="b.txt"),
    Case("txt_empty_file", txt_empty, strict="b.txt"),
    # the file system
    Case("directory_named_like_file", directory_named_like_file),
    Case("empty_directory_named_like_file", empty_directory_named_like_file, exit=2, message=("d.jsonl",)),
    Case("glob_matching_a_directory", glob_of_directory),
    Case("symlink_loop", symlink_loop, exit=2, message=("d.jsonl",)),
    Case("dangling_symlink", dangling_symlink, exit=2, message=("d.jsonl",)),
    Case("fifo", fifo, exit=2, timeout=60, message=("d.jsonl",)),
    Case("fifo_in_folder", fifo_in_folder, timeout=60),
    Case("unreadable_file_as_nobody", unreadable_as_nobody, reasons=frozenset({"unreadable_file"}), message=("permission denied",), strict="d.jsonl", as_nobody=True,
         ),
    Case("unreadable_folder_as_nobody", unreadable_folder_as_nobody, as_nobody=True, exit=2, message=("cannot read the folder",)),
    Case("unknown_extension", unknown_extension, exit=2, message=("d.xml",)),
    Case("missing_path", missing_path, exit=2, message=("nowhere.jsonl",), fast=True),
    Case("glob_matching_nothing", empty_glob, exit=2, message=("in/*.jsonl",)),
    Case("output_is_a_file", output_is_a_file, exit=2, message=("--output", "is a file")),
    Case("output_not_empty", output_not_empty, exit=2, message=("--output", "not empty")),
    Case("output_is_the_input", output_is_the_input, exit=2, message=("in",)),
    Case("bad_format_flag", bad_format_flag, exit=2, message=("--format",)),
    # configs: exit 2 and the key path
    Case("config_wrong_type", config(BASE + "seed: many\n"), exit=2, message=("seed:", "valid integer")),
    Case("config_wrong_type_nested", config(BASE.replace("output: {path: out}", "output: {path: out, rows_per_shard: lots}")), exit=2, message=("output.rows_per_shard",)),
    Case("config_list_for_mapping", config("input: {paths: [data.jsonl]}\nengine: [local]\n"), exit=2, message=("engine",)),
    Case("config_unknown_top_key", config(BASE + "stagez: []\n"), exit=2, message=("stagez: unknown key",)),
    Case("config_unknown_stage_key", config(BASE + "stages: [{kind: exact_dedup, lowercas: true}]\n"), exit=2, message=("stages[0].exact_dedup.lowercas",), fast=True),
    Case("config_out_of_range_workers", config(BASE + "engine: {workers: 0}\n"), exit=2, message=("engine.workers",)),
    Case("config_out_of_range_split", config(BASE.replace("output: {path: out}", "output: {path: out, split: {validation: 1.5}}")), exit=2, message=("output.split.validation",)),
    Case("config_split_sum", config(BASE.replace("output: {path: out}", "output: {path: out, split: {validation: 0.6, test: 0.5}}")), exit=2, message=("output.split",)),
    Case("config_negative_max_chars", config("input: {paths: [data.jsonl], max_chars: -5}\n"), exit=2, message=("input.max_chars",)),
    Case("config_negative_seed", config(BASE + "seed: -1\n"), exit=2, message=("seed",)),
    Case("config_seed_beyond_64_bits", config(BASE + "seed: " + "9" * 30 + "\n"), exit=-1, message=("seed",)),
    Case("config_bad_format", config("input: {paths: [data.jsonl], format: xml}\n"), exit=2, message=("input.sources[0].format",)),
    Case("config_unknown_stage_kind", config(BASE + "stages: [{kind: dedupe}]\n"), exit=2, message=("stages[0].kind", "unknown stage kind")),
    Case("config_stage_not_a_mapping", config(BASE + "stages: [exact_dedup]\n"), exit=2, message=("stages[0]",)),
    Case("config_stage_without_kind", config(BASE + "stages: [{lowercase: true}]\n"), exit=2, message=("stages[0].kind",)),
    Case("config_rule_syntax_error", config(BASE + "stages: [{kind: quality_score, heuristics: [gopher]}, {kind: filter, rules: {r: 'gopher_word_count >>= 3'}}]\n"),
         exit=2, message=("stages[1].filter.rules.r",)),
    Case("config_rule_unknown_column", config(BASE + "stages: [{kind: filter, rules: {r: 'no_such_column > 3'}}]\n"), exit=2, message=("stages[0].filter.rules.r",)),
    Case("config_rule_type_error", config(BASE + "stages: [{kind: filter, rules: {r: \"text > 3\"}}]\n"), exit=2, message=("stages[0].filter.rules.r",)),
    Case("config_rule_nesting_200_deep", config(BASE + f"stages: [{{kind: quality_score, heuristics: [gopher]}}, {{kind: filter, rules: {{deep: '{deep_rule(200)}'}}}}]\n"),
         exit=2, message=("stages[1].filter.rules.deep", "deeper than"), fast=True),
    Case("config_rule_400_digit_literal", config(BASE + "stages: [{kind: quality_score, heuristics: [gopher]}, {kind: filter, rules: {big: 'gopher_word_count >= 1" + "0" * 399 + "'}}]\n"),
         exit=2, message=("stages[1].filter.rules.big", "64 bits")),
    Case("config_rule_huge_or_chain", config(BASE + f"stages: [{{kind: quality_score, heuristics: [gopher]}}, {{kind: filter, rules: {{wide: '{wide_or(5000)}'}}}}]\n"),
         exit=-1, message=("stages[1].filter.rules.wide",)),
    Case("config_workdir_inside_input_folder", config("input: {paths: [.]}\nworkdir: work\noutput: {path: out}\n"), exit=2, message=("workdir", "inside the input folder")),
    Case("config_output_inside_input_folder", config("input: {paths: [.]}\nworkdir: .work\noutput: {path: out}\n"), exit=2, message=("output.path", "inside the input folder")),
    Case("config_workdir_inside_output", config("input: {paths: [data.jsonl]}\nworkdir: out/work\noutput: {path: out}\n"), exit=2, message=("workdir", "inside the output")),
    Case("config_output_inside_workdir", config("input: {paths: [data.jsonl]}\nworkdir: work\noutput: {path: work/out}\n"), exit=2, message=("inside the workdir",)),
    Case("config_workdir_is_a_file", config("input: {paths: [data.jsonl]}\nworkdir: data.jsonl\noutput: {path: out}\n"), exit=-1, message=("data.jsonl",)),
    Case("config_duplicate_yaml_keys", config("input: {paths: [data.jsonl]}\nseed: 1\nseed: 2\n"), exit=2, message=("duplicate key 'seed'",), fast=True),
    Case("config_not_yaml", config("input: {paths: [data.jsonl]\nstages: [\n"), exit=2, message=("not valid YAML",)),
    Case("config_tabs", config("input:\n\tpaths: [data.jsonl]\n"), exit=2, message=("not valid YAML",)),
    Case("config_scalar", config("just a string\n"), exit=2, message=("c.yaml",)),
    Case("config_list", config("- input\n- output\n"), exit=2, message=("c.yaml",)),
    Case("config_empty_file", config(""), exit=2, message=("c.yaml",)),
    Case("config_invalid_utf8", config_bytes(b"input: {paths: [data.jsonl]}\nseed: \xff\xfe\n"), exit=2, message=("c.yaml",)),
    Case("config_nul_byte", config_bytes(b"input: {paths: [data.jsonl]}\x00\n"), exit=2, message=("c.yaml",)),
    Case("config_missing_file", config("", data=False, args=()), exit=2, message=("nope.yaml",)),
    Case("config_is_a_directory", config_dir, exit=2, message=("c.yaml",)),
    Case("config_yaml_alias_bomb", config(bad.yaml_alias_bomb()), exit=2, message=("input",), timeout=60),
    Case("config_input_missing", config("input: {paths: [absent.jsonl]}\nworkdir: work\noutput: {path: out}\n"), exit=2, message=("absent.jsonl",)),
    Case("config_stage_bad_value", config(BASE + "stages: [{kind: quality_score, heuristics: [goper]}]\n"), exit=2, message=("stages[0].quality_score.heuristics[0]",)),
    Case("config_until_unknown_step", config(BASE, args=("--until", "nosuchstep")), exit=2, message=("--until",)),
    Case("config_engine_flag", config(BASE, args=("--engine", "spark")), exit=2, message=("--engine",)),
    Case("config_missing_model_file", config(BASE + "stages: [{kind: quality_score, heuristics: [], fasttext: [{name: hq, path: /nonexistent/model.bin}]}]\n"),
         exit=2, message=("/nonexistent/model.bin",)),
]

# the config file named on the command line does not exist
CASES[[c.name for c in CASES].index("config_missing_file")].build = lambda tmp: (["run", "nope.yaml", "-q"], 0)


def _param(case: Case) -> object:
    marks = [] if case.fast else [FULL]
    if case.xfail:
        marks.append(pytest.mark.xfail(strict=True, reason=case.xfail))
    return pytest.param(case, id=case.name, marks=marks)


def _strict_args(args: list[str]) -> list[str]:
    return [*args[: args.index("-o")], "-o", "out-strict", *args[args.index("-o") + 2 :], "--strict"]


def _details(out: Path) -> pl.DataFrame:
    block = manifest(out)["curate_dataset"]
    files = [out / f for f in block.get("rejected_files", [])]
    if not files:
        return pl.DataFrame({"reject_reason": [], "reject_detail": []}, schema={"reject_reason": pl.String, "reject_detail": pl.String})
    return pl.concat([pl.read_parquet(f, columns=["reject_reason", "reject_detail"]) for f in files])


def _run(case: Case, tmp: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    return run_cli(args, tmp, timeout=case.timeout, as_nobody=case.as_nobody)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    if case.as_nobody:
        why = nobody_can_run()
        if why:
            pytest.skip(f"cannot run as a non-root user here: {why}")
        tmp = shared_tmp("curate-fault-nobody-")
    else:
        tmp = tmp_path
    try:
        _check(case, tmp)
    finally:
        if case.as_nobody:
            subprocess.run(["chmod", "-R", "u+rwx", str(tmp)], check=False)
            shutil.rmtree(tmp, ignore_errors=True)


def _check(case: Case, tmp: Path) -> None:
    args, planted = case.build(tmp)
    result = _run(case, tmp, args)
    tb = has_traceback(result)
    lost = 0
    problems: list[str] = []
    expected_exits = {0, 1, 2} if case.exit == -1 else {case.exit}
    if result.returncode not in expected_exits:
        problems.append(f"exit {result.returncode}, expected {sorted(expected_exits)}")
    if tb:
        problems.append("a traceback")
    if result.returncode == 0 and args[0] == "ingest":
        kept, rejected = output_counts(tmp / "out")
        details = _details(tmp / "out")
        if planted >= 0:
            lost = planted - (kept + rejected)
        if lost:
            problems.append(f"planted {planted}, kept {kept} + rejected {rejected}")
        missing = case.reasons - set(details["reject_reason"].to_list())
        if missing:
            problems.append(f"reasons {sorted(missing)} absent (got {details['reject_reason'].to_list()})")
        if details.filter(pl.col("reject_detail").is_null() | (pl.col("reject_detail") == "")).height:
            problems.append("a reject without a detail")
        for text in case.message:
            if not any(text in d for d in details["reject_detail"].to_list()):
                problems.append(f"no reject detail contains {text!r}: {details['reject_detail'].to_list()[:5]}")
    elif result.returncode != 0:
        err = result.stderr.strip()
        if not err.startswith("error: "):
            problems.append(f"stderr does not start with 'error: ': {err[:300]!r}")
        for text in case.message:
            if text not in err:
                problems.append(f"stderr lacks {text!r}: {err[:500]!r}")
    strict_ok = True
    if case.strict and result.returncode == 0 and args[0] == "ingest":
        strict = _run(case, tmp, _strict_args(args))
        tb = tb or has_traceback(strict)
        if strict.returncode != 1 or case.strict not in strict.stderr or has_traceback(strict):
            strict_ok = False
            problems.append(f"--strict: exit {strict.returncode}, stderr {strict.stderr[-500:]!r} (expected exit 1 and {case.strict!r})")
    clean = not problems
    record("bad_input", name=case.name, clean=clean, traceback=tb, lost=lost, strict_ok=strict_ok)
    assert not problems, f"{case.name}: " + "; ".join(problems) + f"\nstderr: {result.stderr[-2000:]}"


def test_there_are_at_least_50_kinds() -> None:
    assert len({c.name for c in CASES}) == len(CASES) >= 50
    assert sum(c.fast for c in CASES) <= 25
