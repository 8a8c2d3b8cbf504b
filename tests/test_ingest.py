"""Ingest: every input format, field mapping, stable ids, normalisation and malformed records."""

from __future__ import annotations

import csv
import json
import unicodedata
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import make_records, read_dir, read_rejected, write_jsonl
from curate.ingest import unicode_normalized


def ingest(cli, tmp_path: Path, *inputs: object, extra: tuple[str, ...] = ()) -> tuple[pl.DataFrame, pl.DataFrame]:
    out = tmp_path / "out"
    result = cli("ingest", *inputs, "-o", out, "--workers", "1", "--quiet", "--overwrite", *extra)
    assert result.exit_code == 0, result.output
    return read_dir(out), read_rejected(out)


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_json_lines_plain_and_compressed(cli, tmp_path: Path, suffix: str) -> None:
    path = write_jsonl(tmp_path / f"docs{suffix}", make_records(30))
    kept, rejected = ingest(cli, tmp_path, path)
    assert kept.height == 30 and rejected.height == 0
    assert set(kept.columns) == {"id", "text", "source", "n"}
    assert kept["source"].unique().to_list() == ["docs"]


def test_parquet_with_field_mapping_keeps_given_ids_and_metadata(cli, tmp_path: Path) -> None:
    pl.DataFrame({"key": ["a", "b"], "body": ["first text", "second text"], "lang": ["en", "de"]}).write_parquet(tmp_path / "in.parquet")
    out = tmp_path / "out"
    result = cli("ingest", tmp_path / "in.parquet", "-o", out, "--text-field", "body", "--id-field", "key", "--source", "web", "--workers", "1", "-q")
    assert result.exit_code == 0, result.output
    kept = read_dir(out)
    assert kept.select("id", "text", "source", "lang").rows() == [("a", "first text", "web", "en"), ("b", "second text", "web", "de")]


def test_existing_id_column_is_kept(cli, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"id": "x1", "text": "one"}, {"id": "x2", "text": "two"}])
    kept, _ = ingest(cli, tmp_path, path)
    assert kept["id"].to_list() == ["x1", "x2"]


@pytest.mark.parametrize("fmt,delim", [("csv", ","), ("tsv", "\t")])
def test_csv_and_tsv(cli, tmp_path: Path, fmt: str, delim: str) -> None:
    path = tmp_path / f"d.{fmt}"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter=delim)
        w.writerow(["text", "score"])
        w.writerow(["a text, with a comma", 1])
        w.writerow(["multi\nline text", 2])
    kept, rejected = ingest(cli, tmp_path, path)
    assert sorted(kept["text"].to_list()) == ["a text, with a comma", "multi\nline text"]
    assert rejected.height == 0


def test_folder_of_txt_files_one_document_per_file(cli, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("first note")
    (folder / "sub" / "b.txt").write_text("second note")
    kept, _ = ingest(cli, tmp_path, folder)
    assert sorted(kept.select("path", "text").rows()) == [("a.txt", "first note"), ("sub/b.txt", "second note")]
    assert kept["source"].unique().to_list() == ["notes"]


def test_globs_and_several_inputs(cli, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in" / "a.jsonl", make_records(5, seed=1))
    write_jsonl(tmp_path / "in" / "b.jsonl", make_records(7, seed=2))
    write_jsonl(tmp_path / "other.jsonl", make_records(3, seed=3))
    kept, _ = ingest(cli, tmp_path, str(tmp_path / "in" / "*.jsonl"), tmp_path / "other.jsonl")
    assert kept.height == 15


def test_ids_are_stable_and_unique_for_repeated_text(cli, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "same"}, {"text": "same"}, {"text": "other"}])
    first, _ = ingest(cli, tmp_path, path)
    second, _ = ingest(cli, tmp_path, path)
    assert first["id"].to_list() == second["id"].to_list()
    assert first["id"].n_unique() == 3
    assert all(len(i) == 16 for i in first["id"].to_list())


def test_text_is_nfc_normalised(cli, tmp_path: Path) -> None:
    decomposed = "cafe\u0301 na\u0308ive"
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": decomposed}])
    kept, _ = ingest(cli, tmp_path, path)
    assert kept["text"][0] == unicodedata.normalize("NFC", decomposed) != decomposed


MALFORMED = [
    (b'{"text": "unterminated', "invalid_json"),
    (b'{"text": "caf\xe9 latin-1"}', "invalid_utf8"),
    (b'["an", "array"]', "not_an_object"),
    (b'{"title": "no text field"}', "missing_text"),
    (b'{"text": null}', "missing_text"),
    (b'{"text": "   \\n  "}', "empty_text"),
    (b'{"text": 42}', "invalid_text_type"),
    (b'{"text": "' + b"x" * 200 + b'"}', "text_too_long"),
]


@pytest.mark.parametrize("raw,reason", MALFORMED, ids=[r for _, r in MALFORMED])
def test_malformed_record_is_rejected_with_file_line_and_reason(cli, tmp_path: Path, raw: bytes, reason: str) -> None:
    records = [{"text": f"document number {i}"} for i in range(4)]
    path = write_jsonl(tmp_path / "d.jsonl", records, raw_lines={2: raw})
    kept, rejected = ingest(cli, tmp_path, path, extra=("--max-chars", "150"))
    assert kept.height == 4
    assert rejected.height == 1
    row = rejected.row(0, named=True)
    assert row["reject_stage"] == "ingest"
    assert row["reject_reason"] == reason
    assert row["reject_detail"].startswith("d.jsonl:3: ")


def test_strict_mode_stops_with_file_and_line(cli, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", make_records(4), raw_lines={3: b"{oops"})
    result = cli("ingest", path, "-o", tmp_path / "out", "--strict", "--workers", "1", "-q")
    assert result.exit_code == 1
    assert "d.jsonl:4" in result.stderr and "invalid_json" in result.stderr
    assert "Traceback" not in result.output


def test_blank_lines_are_skipped_but_counted_for_line_numbers(cli, tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"text": "a"}\n\n   \n{"text": ""}\n')
    _, rejected = ingest(cli, tmp_path, path)
    assert rejected["reject_detail"][0].startswith("d.jsonl:4: ")


def test_large_file_split_into_ranges_keeps_order_and_line_numbers(tmp_path: Path) -> None:
    from curate.config import InputConfig
    from curate.io.discovery import plan_read_tasks

    records = make_records(3000, seed=5)
    path = write_jsonl(tmp_path / "big.jsonl", records, raw_lines={2500: b"{bad"})
    cfg = InputConfig(sources=[{"paths": [str(path)]}], bytes_per_shard=20_000)
    tasks = plan_read_tasks(cfg)
    assert len(tasks) > 5
    from curate.config import RunConfig
    from curate.pipeline import build_plan
    from curate.runner import run_plan

    run = RunConfig(input=cfg, workdir=str(tmp_path / "w"), engine={"workers": 1})
    run_plan(build_plan(run))
    kept = pl.concat([pl.read_parquet(p) for p in sorted((tmp_path / "w" / "00_ingest").glob("part-*.parquet"))])
    assert kept["n"].to_list() == list(range(3000))
    rejected = pl.read_parquet(next((tmp_path / "w" / "00_ingest" / "rejected").glob("*.parquet")))
    assert rejected["reject_detail"][0].startswith("big.jsonl:2501: ")


def test_mixed_types_in_a_field_do_not_fail_the_file(cli, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "meta": 1}, {"text": "b", "meta": "x"}], raw_lines={2: b"{bad"})
    kept, rejected = ingest(cli, tmp_path, path)
    assert kept.height == 2 and rejected.height == 1


def test_user_metadata_named_like_a_core_column_is_renamed_not_lost(cli, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"body": "t", "text": "not the text"}])
    out = tmp_path / "out"
    assert cli("ingest", path, "-o", out, "--text-field", "body", "--workers", "1", "-q").exit_code == 0
    kept = read_dir(out)
    assert kept.select("text", "orig_text").row(0) == ("t", "not the text")


def test_manifest_counts_add_up(cli, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", make_records(10), raw_lines={1: b"{bad", 5: b'{"text": ""}'})
    ingest(cli, tmp_path, path)
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    counts = manifest["steps"][0]["counts"]
    assert counts["docs_in"] == 12
    assert counts["docs_kept"] + counts["docs_rejected"] == counts["docs_in"]
    assert counts["rejected_by_reason"] == {"empty_text": 1, "invalid_json": 1}


def test_txt_file_with_invalid_utf8_is_rejected_by_name(cli, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "good.txt").write_text("fine text")
    (folder / "bad.txt").write_bytes(b"caf\xe9")
    kept, rejected = ingest(cli, tmp_path, folder)
    assert kept["text"].to_list() == ["fine text"]
    assert rejected.select("reject_reason", "reject_detail").row(0) == ("invalid_utf8", "bad.txt: text is not valid UTF-8")


def test_csv_row_with_wrong_column_count_is_rejected(cli, tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text('text,score\n"good one",1\n"bad",2,extra\n"good two",3\n')
    kept, rejected = ingest(cli, tmp_path, path)
    assert sorted(kept["text"].to_list()) == ["good one", "good two"]
    assert rejected["reject_reason"].to_list() == ["malformed_row"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.text(alphabet=st.sampled_from(list("ae\u0301\u00e9\u212b\u0041\u030a\uac00\u1100\u1161 ")), max_size=12)), max_size=15),
    st.sampled_from(["NFC", "NFKC", "NFD", "NFKD"]),
)
def test_normalising_only_the_rows_that_need_it_equals_normalising_all(texts: list[str | None], form: str) -> None:
    text = pa.array(texts, pa.large_string())
    got = unicode_normalized(text, form).to_pylist()
    assert got == [None if t is None else unicodedata.normalize(form, t) for t in texts]


_TEXT_CHARS = list("a é\u4e2d\t\n\r\x0b\x0c\x1c\x1f\x7f\x85\xa0\u1680\u2003\u200b\u2028\u3000!~")


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.text(alphabet=st.sampled_from(_TEXT_CHARS), max_size=8)), max_size=20),
    st.integers(0, 6),
    st.integers(0, 3),
)
def test_blank_and_too_long_checks_only_candidates_but_equal_checking_every_row(
    texts: list[str | None], max_chars: int, skip: int
) -> None:
    """Rows starting with printable ASCII are never blank, rows of at most max_chars bytes never
    too long: the same answers as polars' strip_chars / len_chars on every row (a sliced array too)."""
    import numpy as np

    from curate.ingest import _blank_and_too_long

    text = pa.array(texts, pa.large_string()).slice(min(skip, len(texts)))
    series = pl.Series(text)
    blank, too_long = _blank_and_too_long(text, series.is_not_null().to_numpy(), max_chars)
    assert blank.tolist() == series.str.strip_chars().str.len_bytes().eq(0).fill_null(False).to_list()
    assert too_long.tolist() == (series.str.len_chars() > max_chars).fill_null(False).to_list()
    assert np.asarray(blank).dtype == bool


def test_derived_ids_of_one_source_and_file_equal_the_per_row_keys() -> None:
    import numpy as np

    from curate.ingest import derived_ids

    lines = np.arange(1, 101, dtype=np.int64)
    text_hash = np.arange(100, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    per_row = derived_ids(pl.repeat("web", 100, eager=True), pl.repeat("a/b.jsonl", 100, eager=True), lines, text_hash)
    assert (derived_ids("web", "a/b.jsonl", lines, text_hash) == per_row).all()
    assert (derived_ids("web", pl.repeat("a/b.jsonl", 100, eager=True), lines, text_hash) == per_row).all()


@pytest.mark.parametrize("block", [7, 64, 300, 4096])
def test_json_lines_read_in_blocks_of_any_size_give_the_same_records(tmp_path: Path, monkeypatch, block: int) -> None:
    """Blocks are zero-copy views of the buffer read into; any block size (lines cut across
    blocks, lines longer than a block) gives the same rows, lines and bad records."""
    from curate.io import readers
    from curate.io.discovery import plan_read_tasks

    lines = [json.dumps({"text": f"doc {i} " + "é" * (i % 7) * 15, "n": i}).encode() for i in range(60)]
    lines[5] = b""
    lines[9] = b"   "
    lines[13] = b'{"text": "bad'
    lines[17] = b'{"text": "not utf8 \xff"}'
    lines[21] = b"[" * 60 + b"]" * 60
    lines[25] = json.dumps({"text": "x" * 900}).encode()  # over the line cap below
    lines[30] = json.dumps({"text": "crlf", "n": 30}).encode() + b"\r"
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\n".join(lines))  # no newline at the end

    def read() -> tuple[list, list, list]:
        from curate.config import InputConfig

        task = plan_read_tasks(InputConfig(sources=[{"paths": [str(path)]}]))[0]
        chunks = list(readers.read_task(task, "text", 1000, readers.ReadLimits(max_line_bytes=500)))
        rows = [r for c in chunks for r in c.table.to_pylist()]
        numbers = [int(x) for c in chunks for x in c.lines]
        # raw up to the cap: a line over it is cut where the block reader saw the cap passed
        bad = sorted((b.line, b.reason, b.raw[:400]) for c in chunks for b in c.bad)
        return rows, numbers, bad

    expected = read()
    monkeypatch.setattr(readers, "CHUNK_BYTES", block)
    assert read() == expected
    rows, numbers, bad = expected
    assert [r["n"] for r in rows] == [n - 1 for n in numbers]
    assert {(line, reason) for line, reason, _ in bad} >= {
        (14, "invalid_json"), (18, "invalid_utf8"), (22, "json_too_deep"), (26, "line_too_long")
    }


def test_arrow_utf8_check_agrees_with_python_s_strict_decoder() -> None:
    """The reader checks a block's UTF-8 with Arrow's validator; it must reject exactly what
    Python's strict decoder rejects (overlong forms, surrogates, > U+10FFFF, stray or missing
    continuation bytes), at any position."""
    import random

    import pyarrow as pa

    from curate.io.readers import _valid_utf8

    def python_ok(b: bytes) -> bool:
        try:
            b.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    edge = [b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf0\x8f\xbf\xbf",
            b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\x80", b"\xc3", b"\xe2\x82", b"\xef\xbf\xbe", b"\xf0\x9f\x98\x80",
            b"\xee\x80\x80", b"\x00", "é中😀".encode()]
    rng = random.Random(3)
    samples = [pre + e + post for e in edge for pre in (b"", b"a" * 37) for post in (b"", b"b" * 45)]
    samples += [bytes(rng.choice([rng.randrange(256), rng.randrange(0x80, 0xC0), rng.randrange(0xC0, 0xF8), 0x41])
                      for _ in range(rng.randint(1, 12))) for _ in range(20000)]
    for b in samples:
        assert _valid_utf8(pa.py_buffer(b)) == python_ok(b), b


def _one_schema(out: Path) -> pl.DataFrame:
    """Every kept shard has the same schema, so one glob reads the step (polars and pyarrow)."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    shards = sorted(out.glob("*.parquet"))
    assert len(shards) >= 2
    schemas = {pq.read_schema(f).remove_metadata().to_string() for f in shards}
    assert len(schemas) == 1, schemas
    assert ds.dataset(out / "", format="parquet", exclude_invalid_files=True).to_table().num_rows == sum(pq.read_metadata(f).num_rows for f in shards)
    return pl.scan_parquet(out / "*.parquet").collect().sort("text")


def test_shards_of_one_ingest_share_one_schema_when_a_field_is_null_in_one_file(cli, tmp_path: Path) -> None:
    # one read task per file: each types its own rows (all-null title, int vs float score, no lang)
    write_jsonl(tmp_path / "in" / "a.jsonl", [{"text": "first document", "title": None, "score": 1}])
    write_jsonl(tmp_path / "in" / "b.jsonl", [{"text": "second document", "title": "Second", "score": 2.5, "lang": "en"}])
    kept, _ = ingest(cli, tmp_path, tmp_path / "in")
    frame = _one_schema(tmp_path / "out")
    assert frame.schema["title"] == pl.String and frame.schema["score"] == pl.Float64
    assert frame["title"].to_list() == [None, "Second"] and frame["score"].to_list() == [1.0, 2.5]
    assert frame["lang"].to_list() == [None, "en"]


def test_html_files_with_and_without_a_declared_charset_share_one_schema(cli, tmp_path: Path) -> None:
    body = "<article><p>{} is a paragraph of main content, long enough for the extractor to keep it as the page text.</p></article>"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.html").write_text(f'<html><head><meta charset="utf-8"><title>A</title></head><body>{body.format("Alpha")}</body></html>')
    (tmp_path / "in" / "b.html").write_bytes(f"<html><body>{body.format('Beta')}</body></html>".encode())
    ingest(cli, tmp_path, tmp_path / "in", extra=("--rows-per-shard", "1"))
    frame = _one_schema(tmp_path / "out")
    assert frame.height == 2 and frame["path"].to_list() == ["a.html", "b.html"]


def test_strict_mode_names_the_first_record_a_check_rejects(cli, tmp_path: Path) -> None:
    """A well-formed record that fails a check (here: no text) stops a --strict run too, at its line."""
    path = write_jsonl(tmp_path / "d.jsonl", make_records(6), raw_lines={3: b'{"text": "  "}', 5: b'{"other": 1}'})
    result = cli("ingest", path, "-o", tmp_path / "out", "--strict", "--workers", "1", "-q")
    assert result.exit_code == 1
    assert "d.jsonl:4: text is empty or whitespace (empty_text)" in result.stderr
    assert "Traceback" not in result.output


def test_each_rejected_row_keeps_the_first_check_it_failed(cli, tmp_path: Path) -> None:
    """A row failing several checks is rejected once, for the first; rows failing different
    checks each keep their own reason and line."""
    records = [{**r, "id": f"doc-{i}"} for i, r in enumerate(make_records(3))]
    path = write_jsonl(
        tmp_path / "d.jsonl", records, raw_lines={1: b'{"text": null, "id": ""}', 2: b'{"text": "", "id": "x"}', 3: b'{"text": "fine", "id": ""}'}
    )
    (tmp_path / "run.yaml").write_text(f"input: {{paths: ['{path}'], id_field: id}}\nworkdir: {tmp_path / 'w'}\nengine: {{workers: 1}}\n")
    assert cli("run", tmp_path / "run.yaml", "-q").exit_code == 0
    rejected = pl.concat([pl.read_parquet(p) for p in sorted((tmp_path / "w" / "00_ingest" / "rejected").glob("*.parquet"))])
    got = sorted(zip(rejected["reject_detail"].str.extract(r"^d\.jsonl:(\d+):").cast(int), rejected["reject_reason"], strict=True))
    assert got == [(2, "missing_text"), (3, "empty_text"), (4, "missing_id")]
