"""Inputs in an object store (a local S3-compatible server): read streamed, exactly as local files.

Every test builds its files locally, copies them to the bucket, and compares what curate makes of
the URL with what it makes of the local path: the same ids, text, metadata and rejected records.
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import make_records, read_dir, read_rejected, write_config, write_jsonl
from curate.config import InputConfig, SourceConfig, load_config
from curate.io import store
from curate.io.discovery import _glob_match, expand_source, plan_read_tasks
from curate.pipeline import build_plan
from curate.runner import run_plan

BAD_LINE = {2: b'{"text": "cut short'}
"""A damaged record inserted as line 3, rejected with its file and line wherever the file is kept."""


def upload_tree(local: Path, url: str) -> None:
    for p in sorted(local.rglob("*")):
        if p.is_file():
            store.upload(p, store.join(url, p.relative_to(local).as_posix()))


def ingest(cli: Any, out: Path, *inputs: object, extra: tuple[str, ...] = ()) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    result = cli("ingest", *inputs, "-o", out, "--workers", "1", "--quiet", "--overwrite", *extra)
    assert result.exit_code == 0, result.output
    rejected = read_rejected(out)
    return read_dir(out), rejected.sort("id") if rejected.height else rejected, json.loads((out / "_manifest.json").read_text())


def same_as_local(cli: Any, tmp_path: Path, bucket: str, local_input: Path, url: str, extra: tuple[str, ...] = ()) -> pl.DataFrame:
    """Ingest the local path and the URL; assert both give the same kept and rejected rows."""
    kept_local, rejected_local, _ = ingest(cli, tmp_path / "out-local", local_input, extra=extra)
    kept_remote, rejected_remote, manifest = ingest(cli, tmp_path / "out-remote", url, extra=extra)
    assert kept_remote.equals(kept_local)
    assert rejected_remote.equals(rejected_local)
    assert manifest["steps"][0]["counts"]["docs_in"] == kept_local.height + rejected_local.height
    return kept_remote


@pytest.mark.parametrize("name", ["d.jsonl.gz", "d.jsonl.zst"])
def test_a_compressed_file_is_stored_and_read_back_byte_for_byte(tmp_path: Path, bucket: str, name: str) -> None:
    local = write_jsonl(tmp_path / name, make_records(3))  # the store's client must not (de)compress by the name
    store.upload(local, f"{bucket}/{name}")
    assert store.read_bytes(f"{bucket}/{name}") == local.read_bytes()
    assert store.info(f"{bucket}/{name}").size == local.stat().st_size


@pytest.mark.parametrize("name", ["docs.jsonl", "docs.jsonl.gz", "docs.jsonl.zst"])
def test_json_lines_from_a_bucket_equal_the_same_file_read_locally(cli: Any, tmp_path: Path, bucket: str, name: str) -> None:
    local = write_jsonl(tmp_path / "data" / name, make_records(40), BAD_LINE)
    store.upload(local, f"{bucket}/data/{name}")
    kept = same_as_local(cli, tmp_path, bucket, local, f"{bucket}/data/{name}")
    assert kept.height == 40  # and line 3 is rejected, with its position, in both


def test_a_damaged_remote_record_is_rejected_with_its_file_and_line(cli: Any, tmp_path: Path, bucket: str) -> None:
    local = write_jsonl(tmp_path / "d.jsonl", make_records(5), BAD_LINE)
    store.upload(local, f"{bucket}/in/d.jsonl")
    _, rejected, _ = ingest(cli, tmp_path / "out", f"{bucket}/in/d.jsonl")
    assert rejected["reject_reason"].to_list() == ["invalid_json"]
    assert rejected["reject_detail"][0].startswith("d.jsonl:3: ")


def test_a_large_remote_json_lines_file_is_split_into_the_same_tasks_as_a_local_one(tmp_path: Path, bucket: str) -> None:
    local = write_jsonl(tmp_path / "big.jsonl", make_records(400))
    store.upload(local, f"{bucket}/big.jsonl")
    tasks = {
        where: [(t.start, t.end, t.first_line, t.files[0].relpath) for t in plan_read_tasks(InputConfig(sources=[SourceConfig(paths=[where])], bytes_per_shard=4096))]
        for where in (str(local), f"{bucket}/big.jsonl")
    }
    assert len(tasks[str(local)]) > 3
    assert tasks[f"{bucket}/big.jsonl"] == tasks[str(local)]


def test_a_split_remote_file_gives_the_same_shards_as_a_local_one(cli: Any, tmp_path: Path, bucket: str) -> None:
    local = write_jsonl(tmp_path / "big.jsonl", make_records(300), BAD_LINE)
    store.upload(local, f"{bucket}/big.jsonl")
    for where, out in ((local, "out-local"), (f"{bucket}/big.jsonl", "out-remote")):
        cfg = {"input": {"paths": [str(where)], "bytes_per_shard": 8192}, "workdir": str(tmp_path / f"w-{out}"), "engine": {"workers": 1}}
        run_plan(build_plan(load_config(write_config(tmp_path, cfg, f"{out}.yaml"))))
    shards = {
        out: {p.relative_to(tmp_path / f"w-{out}").as_posix(): pl.read_parquet(p) for p in sorted((tmp_path / f"w-{out}").rglob("part-*.parquet"))}
        for out in ("out-local", "out-remote")
    }
    assert len(shards["out-local"]) > 3
    assert shards["out-remote"].keys() == shards["out-local"].keys()
    assert all(shards["out-remote"][k].equals(shards["out-local"][k]) for k in shards["out-local"])


def test_parquet_from_a_bucket_equals_the_same_file_read_locally(cli: Any, tmp_path: Path, bucket: str) -> None:
    local = tmp_path / "data" / "t.parquet"
    local.parent.mkdir()
    pl.DataFrame({"body": [f"text number {i}" for i in range(50)], "lang": ["en", "de"] * 25}).write_parquet(local, row_group_size=7)
    store.upload(local, f"{bucket}/data/t.parquet")
    kept = same_as_local(cli, tmp_path, bucket, local, f"{bucket}/data/t.parquet", extra=("--text-field", "body"))
    assert kept.height == 50 and "lang" in kept.columns


def test_csv_from_a_bucket_equals_the_same_file_read_locally(cli: Any, tmp_path: Path, bucket: str) -> None:
    local = tmp_path / "t.csv"
    local.write_text('text,score\n"a text, with a comma",1\n"multi\nline text",2\nshort row\n')
    store.upload(local, f"{bucket}/t.csv")
    kept = same_as_local(cli, tmp_path, bucket, local, f"{bucket}/t.csv")
    assert sorted(kept["text"].to_list()) == ["a text, with a comma", "multi\nline text"]


def test_a_folder_of_txt_files_from_a_bucket_equals_the_same_folder_read_locally(cli: Any, tmp_path: Path, bucket: str) -> None:
    root = tmp_path / "notes"
    for rel, text in {"a.txt": "first note", "sub/b.txt": "second note", "sub/deep/c.txt.gz": None, "empty.txt": ""}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            (root / rel).write_bytes(gzip.compress(b"third note, compressed"))
        else:
            (root / rel).write_text(text)
    upload_tree(root, f"{bucket}/notes")
    kept = same_as_local(cli, tmp_path, bucket, root, f"{bucket}/notes/")
    assert sorted(kept["path"].to_list()) == ["a.txt", "sub/b.txt", "sub/deep/c.txt.gz"]


def test_a_warc_from_a_bucket_equals_the_same_archive_read_locally(cli: Any, tmp_path: Path, bucket: str) -> None:
    from web.test_warc_ingest import MIXED

    local = tmp_path / "crawl.warc.gz"
    local.write_bytes(b"".join(gzip.compress(r) for r in MIXED) + b"not a record at all")
    store.upload(local, f"{bucket}/crawl/crawl.warc.gz")
    kept = same_as_local(cli, tmp_path, bucket, local, f"{bucket}/crawl/crawl.warc.gz")
    assert {"https://example.com/a", "https://example.com/c"} <= set(kept["url"].to_list())


def test_a_folder_of_html_pages_from_a_bucket_equals_the_same_folder_read_locally(cli: Any, tmp_path: Path, bucket: str) -> None:
    from web.test_warc_ingest import page

    root = tmp_path / "site"
    root.mkdir()
    (root / "a.html").write_bytes(page("Alpha", "The first page has a paragraph of real main text about alpha."))
    (root / "b.htm.gz").write_bytes(gzip.compress(page("Beta", "A second page, compressed, with its own main text.")))
    upload_tree(root, f"{bucket}/site")
    kept = same_as_local(cli, tmp_path, bucket, root, f"{bucket}/site")
    assert sorted(kept["path"].to_list()) == ["a.html", "b.htm.gz"]


@pytest.mark.parametrize("name", ["cut.jsonl.gz", "cut.jsonl.zst"])
def test_a_truncated_remote_file_keeps_what_precedes_the_damage_as_a_local_one_does(cli: Any, tmp_path: Path, bucket: str, name: str) -> None:
    whole = write_jsonl(tmp_path / "whole" / name, make_records(200)).read_bytes()
    local = tmp_path / name
    local.write_bytes(whole[: len(whole) * 2 // 3])
    store.upload(local, f"{bucket}/{name}")
    same_as_local(cli, tmp_path, bucket, local, f"{bucket}/{name}")
    _, rejected, _ = ingest(cli, tmp_path / "again", f"{bucket}/{name}")
    assert rejected["reject_reason"].to_list() == ["damaged_file"]
    assert rejected["reject_detail"][0].startswith(f"{name}:") and "truncated" in rejected["reject_detail"][0]


def test_a_prefix_reads_every_object_below_it_with_the_local_folder_rules(tmp_path: Path, bucket: str) -> None:
    root = tmp_path / "corpus"
    for rel in ("a.jsonl", "x/b.jsonl.gz", "_sidecar.jsonl", ".hidden/c.jsonl", "rejected/d.jsonl", "x/notes.md", "x/y/e.parquet"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"")
    upload_tree(root, f"{bucket}/corpus")
    src = {where: SourceConfig(paths=[where]) for where in (str(root), f"{bucket}/corpus/")}
    rels = {where: [f.relpath for f in expand_source(s, "input")] for where, s in src.items()}
    assert rels[f"{bucket}/corpus/"] == rels[str(root)] == ["a.jsonl", "x/b.jsonl.gz", "x/y/e.parquet"]


@pytest.mark.parametrize("pattern", ["*.jsonl", "**/*.jsonl", "x/*", "**", "x/**/e.*", "[ab].jsonl", "?/*.jsonl", ".hidden/*", "**/.hidden/*"])
def test_a_glob_matches_the_objects_local_glob_matches(tmp_path: Path, bucket: str, pattern: str) -> None:
    root = tmp_path / "g"
    for rel in ("a.jsonl", "b.jsonl", "x/c.jsonl", "x/y/e.jsonl", "x/.f.jsonl", ".hidden/h.jsonl", "z/.hidden/i.jsonl"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"{}\n")
    upload_tree(root, f"{bucket}/g")
    local = expand_source(SourceConfig(paths=[str(root / pattern)]), "input")
    remote = expand_source(SourceConfig(paths=[f"{bucket}/g/{pattern}"]), "input")
    assert [f.path.removeprefix(f"{bucket}/g/") for f in remote] == [os.path.relpath(f.path, root) for f in local]
    assert [f.relpath for f in remote] == [f.relpath for f in local]


_DIRS = st.sampled_from(["a", "b", ".h", "_u", "rejected"])
_FILES = st.sampled_from(["c.jsonl", "d.txt", ".e.jsonl", "f.jsonl.gz", "_g.jsonl"])
_SEGMENTS = st.sampled_from(["*", "**", "?", "*.jsonl", "*.j*", "a", ".h", "[ab]", ".*", "c.*", "[!c]*", "_*"])


@settings(max_examples=150, deadline=None)
@given(
    files=st.lists(st.tuples(st.lists(_DIRS, max_size=3), _FILES), min_size=1, max_size=12),
    pattern=st.lists(_SEGMENTS, min_size=1, max_size=4),
)
def test_glob_matching_of_a_listing_agrees_with_local_glob(files: list[tuple[list[str], str]], pattern: list[str]) -> None:
    """Object keys matched against a glob give exactly what glob.glob finds for the same tree on disk."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rels = sorted({"/".join([*dirs, name]) for dirs, name in files})
        for rel in rels:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(b"")
        found = glob.glob(str(root / "/".join(pattern)), recursive=True)
        local = sorted({os.path.relpath(m, root) for m in found if os.path.isfile(m)})  # discovery drops repeats
        assert [rel for rel in rels if _glob_match(pattern, rel.split("/"))] == local


def test_a_json_lines_release_in_a_bucket_gives_back_its_rows(cli: Any, tmp_path: Path, bucket: str) -> None:
    write_jsonl(tmp_path / "raw" / "d.jsonl", make_records(15), BAD_LINE)
    cfg = {"input": {"paths": [str(tmp_path / "raw")]}, "workdir": str(tmp_path / "work"), "engine": {"workers": 1},
           "output": {"path": str(tmp_path / "release"), "format": "jsonl"}}
    run_plan(build_plan(load_config(write_config(tmp_path, cfg))))
    publish_by_hand(tmp_path / "release", f"{bucket}/rel")
    same_as_local(cli, tmp_path, bucket, tmp_path / "release", f"{bucket}/rel")


def test_a_glob_from_a_bucket_equals_the_same_glob_read_locally(cli: Any, tmp_path: Path, bucket: str) -> None:
    root = tmp_path / "data"
    write_jsonl(root / "2024" / "a.jsonl", make_records(5, seed=1))
    write_jsonl(root / "2025" / "b.jsonl", make_records(5, seed=2))
    write_jsonl(root / "2025" / "skip.json", make_records(5, seed=3))
    upload_tree(root, f"{bucket}/data")
    kept = same_as_local(cli, tmp_path, bucket, root / "**" / "*.jsonl", f"{bucket}/data/**/*.jsonl")
    assert kept.height == 10


def test_a_changed_object_is_read_again_on_resume(tmp_path: Path, bucket: str) -> None:
    store.write_bytes(f"{bucket}/in/d.jsonl", b'{"text": "the first version"}\n')
    cfg = load_config(write_config(tmp_path, {"input": {"paths": [f"{bucket}/in/"]}, "workdir": str(tmp_path / "work"), "engine": {"workers": 1}}))
    first = run_plan(build_plan(cfg))
    store.write_bytes(f"{bucket}/in/d.jsonl", b'{"text": "the second, longer version"}\n')
    again = run_plan(build_plan(cfg, resume=True))
    assert not again.steps[0].skipped and again.steps[0].fingerprint != first.steps[0].fingerprint
    assert read_dir(tmp_path / "work" / "00_ingest")["text"].to_list() == ["the second, longer version"]


def test_an_unchanged_bucket_is_not_read_again_on_resume(tmp_path: Path, bucket: str) -> None:
    store.write_bytes(f"{bucket}/in/d.jsonl", b'{"text": "one version"}\n')
    cfg = load_config(write_config(tmp_path, {"input": {"paths": [f"{bucket}/in/"]}, "workdir": str(tmp_path / "work"), "engine": {"workers": 1}}))
    first = run_plan(build_plan(cfg))
    again = run_plan(build_plan(cfg, resume=True))
    assert again.steps[0].skipped and again.steps[0].fingerprint == first.steps[0].fingerprint


def publish_by_hand(local_out: Path, url: str, release: str = "rel-0001") -> None:
    """What a publish to a store leaves: the release folder, then the marker naming it."""
    upload_tree(local_out, store.join(url, release))
    store.write_bytes(store.join(url, store.RELEASE_MARKER), json.dumps({"release": release}).encode())


@pytest.mark.parametrize("given", ["marker", "release folder"])
def test_a_curate_output_in_a_bucket_gives_back_its_kept_rows_only(cli: Any, tmp_path: Path, bucket: str, given: str) -> None:
    local = write_jsonl(tmp_path / "d.jsonl", make_records(12), BAD_LINE)
    kept, rejected, _ = ingest(cli, tmp_path / "first", local)
    assert rejected.height == 1
    publish_by_hand(tmp_path / "first", f"{bucket}/pub")
    url = f"{bucket}/pub" if given == "marker" else f"{bucket}/pub/rel-0001"
    again, rejected_again, manifest = ingest(cli, tmp_path / "again", url)
    assert again.equals(kept)
    assert rejected_again.height == 0  # rejected rows of the release never come back
    assert manifest["lineage"][0]["path"] == f"{bucket}/pub/rel-0001"


def error_line(result: Any) -> str:
    """The one `error:` line a failed command prints (exit 2: found before anything was read)."""
    assert result.exit_code == 2, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    return line


def test_a_missing_bucket_is_one_line_naming_the_key_and_url(cli: Any, tmp_path: Path, s3_env: dict) -> None:
    line = error_line(cli("ingest", "s3://no-such-bucket/data/", "-o", tmp_path / "out", "-q"))
    assert line.startswith("error: input.sources[0].paths[0]: no input file matches 's3://no-such-bucket/data'")
    assert "the bucket s3://no-such-bucket does not exist" in line


def test_a_prefix_with_no_objects_is_one_line_naming_the_url(cli: Any, tmp_path: Path, bucket: str) -> None:
    store.write_bytes(f"{bucket}/other/x.jsonl", b"{}\n")
    for url in (f"{bucket}/data/", f"{bucket}/other/*.parquet"):
        line = error_line(cli("ingest", url, "-o", tmp_path / "out", "-q"))
        assert line.startswith(f"error: input.sources[0].paths[0]: no input file matches '{url.rstrip('/')}'")


def test_an_unreachable_store_is_one_line_naming_the_url(cli: Any, tmp_path: Path, s3_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    store._filesystem.cache_clear()
    line = error_line(cli("ingest", "s3://some-bucket/data/", "-o", tmp_path / "out", "-q"))
    assert line.startswith("error: input.sources[0].paths[0]: cannot reach s3://some-bucket/data: ")


def test_credentials_in_an_input_url_are_refused(cli: Any, tmp_path: Path) -> None:
    result = cli("ingest", "s3://AKIAKEY:secret@bucket/data/", "-o", tmp_path / "out", "-q")
    assert "credentials in a URL are refused" in error_line(result) and "secret" not in result.output


def test_remote_inputs_never_touch_the_local_filesystem_in_planning(tmp_path: Path, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    write_jsonl(tmp_path / "src" / "d.jsonl", make_records(3))
    upload_tree(tmp_path / "src", f"{bucket}/in")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(write_config(tmp_path, {"input": {"paths": [f"{bucket}/in/"]}, "workdir": str(tmp_path / "w"), "output": {"path": str(tmp_path / "o")}}))
    plan = build_plan(cfg)
    assert [f.path for f in plan.read_tasks[0].files] == [f"{bucket}/in/d.jsonl"]
    assert not (tmp_path / "s3:").exists()


def test_the_command_a_user_types_reads_a_bucket_and_logs_no_secret(tmp_path: Path, bucket: str, subprocess_env: dict) -> None:
    records = make_records(20, dup_every=4)
    write_jsonl(tmp_path / "src" / "part-1.jsonl", records[:10])
    write_jsonl(tmp_path / "src" / "part-2.jsonl", records[10:])
    upload_tree(tmp_path / "src", f"{bucket}/raw")
    outputs = []
    for command in (["ingest", f"{bucket}/raw/", "--workers", "2"], ["dedup", f"{bucket}/raw/*.jsonl", "--workers", "1"]):
        out = tmp_path / command[0]
        proc = subprocess.run(
            [sys.executable, "-m", "curate", *command, "-o", str(out)],
            env=subprocess_env, capture_output=True, text=True, timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        manifest = (out / "_manifest.json").read_text()
        for secret in (subprocess_env["AWS_SECRET_ACCESS_KEY"], subprocess_env["AWS_ACCESS_KEY_ID"]):
            assert secret not in proc.stdout + proc.stderr + manifest
        outputs.append(read_dir(out))
    ingested, deduped = outputs
    assert ingested.height == 20 and deduped.height < 20


@pytest.mark.parametrize(
    "inputs,workdir,output,expect",
    [
        (["s3://b/raw/"], ".curate/run", "s3://b/raw/out", "the output s3://b/raw/out is inside the input prefix s3://b/raw"),
        (["s3://b/raw/x.jsonl"], ".curate/run", "s3://b/raw", "the output s3://b/raw holds the input s3://b/raw/x.jsonl"),
        (["s3://b/raw/**/*.jsonl"], ".curate/run", "s3://b", "the output s3://b holds the input s3://b/raw"),
        (["s3://b/raw"], "s3://b/raw/work", "s3://b/out", "workdir: s3://b/raw/work is inside the input prefix s3://b/raw"),
        (["s3://b/work/02_dedup"], "s3://b/work", "s3://b/out", "input: s3://b/work/02_dedup is inside the workdir s3://b/work"),
        (["s3://b/raw"], "s3://b/out/work", "s3://b/out", "the workdir s3://b/out/work is inside the output s3://b/out"),
    ],
)
def test_urls_that_overlap_are_refused_before_anything_is_read(inputs: list[str], workdir: str, output: str, expect: str) -> None:
    from curate.config import parse_config
    from curate.errors import ConfigError
    from curate.path_checks import check_remote_overlaps

    cfg = parse_config({"input": {"paths": inputs}, "workdir": workdir, "output": {"path": output}})
    with pytest.raises(ConfigError, match=re.escape(expect)):
        check_remote_overlaps(cfg)


@pytest.mark.parametrize(
    "inputs,workdir,output",
    [(["s3://b/ingested"], "s3://b/work", "s3://b/deduped"), (["s3://b/raw/"], "s3://b/raw/.curate/work", "s3://b/out"), (["s3://b/raw/*.jsonl"], ".curate/run", "s3://b/raw-out")],
)
def test_urls_side_by_side_or_hidden_below_an_input_are_accepted(inputs: list[str], workdir: str, output: str) -> None:
    from curate.config import parse_config
    from curate.path_checks import check_remote_overlaps

    check_remote_overlaps(parse_config({"input": {"paths": inputs}, "workdir": workdir, "output": {"path": output}}))


def test_the_input_schema_is_probed_from_remote_headers_as_from_local_ones(tmp_path: Path, bucket: str) -> None:
    from curate.schema_check import probe_input_schema

    root = tmp_path / "mixed"
    write_jsonl(root / "a.jsonl", [{"text": "x", "score": 0.5, "lang": "en"}])
    pl.DataFrame({"text": ["y"], "year": [2024]}).write_parquet(root / "b.parquet")
    upload_tree(root, f"{bucket}/mixed")
    schemas = [probe_input_schema(plan_read_tasks(InputConfig(sources=[SourceConfig(paths=[where])]))) for where in (str(root), f"{bucket}/mixed")]
    assert schemas[1] == schemas[0]
    assert schemas[0] is not None and {"score", "lang", "year"} <= set(schemas[0])


def test_a_file_a_stage_reads_must_stay_local(tmp_path: Path) -> None:
    from curate.errors import ConfigError

    write_jsonl(tmp_path / "d.jsonl", make_records(3))
    cfg = {"input": {"paths": [str(tmp_path / "d.jsonl")]}, "workdir": str(tmp_path / "w"),
           "stages": [{"kind": "decontaminate", "evals": [{"name": "mmlu", "path": "s3://bucket/evals/mmlu.jsonl"}]}]}
    with pytest.raises(ConfigError, match=re.escape("stages[0].decontaminate.evals[0].path: s3://bucket/evals/mmlu.jsonl is a URL; files a stage reads")):
        build_plan(load_config(write_config(tmp_path, cfg)))
