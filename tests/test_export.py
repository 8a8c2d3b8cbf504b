"""Export: target-size shards, JSON Lines, deterministic splits, column selection, card, loaders."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pyarrow.dataset as ds
import pytest

from conftest import make_records, write_jsonl


def export(cli, tmp_path: Path, n: int = 100, *args: str) -> Path:
    src = write_jsonl(tmp_path / "in.jsonl", make_records(n))
    out = tmp_path / "dataset"
    result = cli("export", src, "-o", out, "--workers", "1", "-q", *args)
    assert result.exit_code == 0, result.output
    return out


def test_parquet_shards_have_the_requested_rows(cli, tmp_path: Path) -> None:
    out = export(cli, tmp_path, 95, "--rows-per-shard", "20")
    files = sorted((out / "train").glob("*.parquet"))
    assert [pl.read_parquet(f).height for f in files] == [20, 20, 20, 20, 15]


def test_bytes_per_shard_bounds_file_size(cli, tmp_path: Path) -> None:
    out = export(cli, tmp_path, 200, "--bytes-per-shard", "5000")
    files = sorted((out / "train").glob("*.parquet"))
    assert len(files) > 3
    assert sum(pl.read_parquet(f).height for f in files) == 200


def test_split_is_deterministic_by_id_and_partitions_the_data(cli, tmp_path: Path) -> None:
    out = export(cli, tmp_path, 400, "--validation", "0.2", "--test", "0.1", "--seed", "3")
    train = pl.read_parquet(out / "train")
    val = pl.read_parquet(out / "validation")
    test = pl.read_parquet(out / "test")
    assert train.height + val.height + test.height == 400
    assert 40 <= val.height <= 120 and 10 <= test.height <= 70
    assert not set(train["id"]) & set(val["id"])
    again = export(cli, tmp_path / "again", 400, "--validation", "0.2", "--test", "0.1", "--seed", "3")
    assert pl.read_parquet(again / "validation")["id"].to_list() == val["id"].to_list()


def test_jsonl_gz_output(cli, tmp_path: Path) -> None:
    out = export(cli, tmp_path, 30, "--format", "jsonl", "--compression", "gzip")
    files = sorted((out / "train").glob("*.jsonl.gz"))
    rows = [json.loads(line) for f in files for line in gzip.decompress(f.read_bytes()).splitlines()]
    assert len(rows) == 30 and set(rows[0]) == {"id", "text", "source", "n"}


def test_column_selection_keeps_order(cli, tmp_path: Path) -> None:
    out = export(cli, tmp_path, 10, "--columns", "text,id")
    assert pl.read_parquet(out / "train").columns == ["text", "id"]


def test_unknown_column_is_a_clear_error(cli, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", make_records(5))
    result = cli("export", src, "-o", tmp_path / "o", "--columns", "id,nope", "--workers", "1", "-q")
    assert result.exit_code == 2
    assert "output.columns: unknown column(s) nope" in result.stderr


def test_dataset_card_and_manifest(cli, tmp_path: Path) -> None:
    out = export(cli, tmp_path, 50, "--validation", "0.1")
    card = (out / "README.md").read_text()
    assert "# Dataset card" in card and "| in | 50 |" in card
    manifest = json.loads((out / "_manifest.json").read_text())
    assert sum(manifest["splits"].values()) == 50
    assert manifest["sources"] == {"in": 50}
    assert {"curate", "polars", "pyarrow"} <= set(manifest["versions"])


def test_strings_are_plain_utf8_for_every_reader(cli, tmp_path: Path) -> None:
    out = export(cli, tmp_path, 10)
    schema = ds.dataset(out / "train", format="parquet").schema
    assert str(schema.field("text").type) == "string"


def test_output_folder_must_be_empty_unless_overwrite(cli, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", make_records(5))
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    result = cli("export", src, "-o", out, "--workers", "1", "-q")
    assert result.exit_code == 2 and "is not empty" in result.stderr
    assert cli("export", src, "-o", out, "--workers", "1", "-q", "--overwrite").exit_code == 0


def test_round_trip_through_pyarrow_dataset(cli, tmp_path: Path) -> None:
    out = export(cli, tmp_path, 60, "--validation", "0.2")
    table = ds.dataset(out, format="parquet", exclude_invalid_files=True).to_table()
    original = sorted(r["text"] for r in make_records(60))
    assert sorted(table.column("text").to_pylist()) == original


def test_round_trip_through_hugging_face_datasets(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    out = export(cli, tmp_path, 60, "--validation", "0.2")
    loaded = datasets.load_dataset("parquet", data_dir=str(out), cache_dir=str(tmp_path / "cache"))
    assert set(loaded) == {"train", "validation"}
    texts = sorted(list(loaded["train"]["text"]) + list(loaded["validation"]["text"]))
    assert texts == sorted(r["text"] for r in make_records(60))


def test_the_card_s_jsonl_snippet_loads_files_whose_column_is_null_in_one(cli, tmp_path: Path, monkeypatch) -> None:
    """JSON has no types: a column null throughout one file must still load, with the card's own code."""
    import re

    records = [{"text": f"document number {i}", "origin_id": None if i < 10 else f"o{i}"} for i in range(20)]
    src = write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "out"
    result = cli("export", src, "-o", out, "--format", "jsonl", "--compression", "none", "--rows-per-shard", "10", "-q")
    assert result.exit_code == 0, result.output
    card = (out / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", card, re.S).group(1)
    monkeypatch.chdir(out)
    scope: dict = {}
    exec(code, scope)  # noqa: S102 - the card's own snippet, as a user would paste it
    assert scope["train"].num_rows == 20
    assert sorted(x for x in scope["train"]["origin_id"].to_pylist() if x) == sorted(f"o{i}" for i in range(10, 20))
    assert scope["dataset"]["train"].num_rows == 20


def test_without_a_split_every_id_is_train_as_hashing_would_say() -> None:
    import numpy as np

    from curate.config import OutputConfig
    from curate.export import split_codes

    ids = pl.Series([f"{i:016x}" for i in range(2000)])
    none = OutputConfig(path="x")
    assert (split_codes(ids, none, 7) == 0).all()
    # the shortcut agrees with the hash: with validation + test -> 0 every id lands in train
    tiny = OutputConfig(path="x", split={"validation": 1e-12})
    assert (split_codes(ids, tiny, 7) == 0).all()
    assert split_codes(ids, none, 7).dtype == np.int8


def test_a_damaged_shard_at_export_is_a_clear_error(tmp_path: Path) -> None:
    from curate.errors import StageError
    from curate.export import _read_table

    bad = tmp_path / "part-00000.parquet"
    bad.write_bytes(b"PAR1 not parquet")
    with pytest.raises(StageError, match="a shard of an earlier step is damaged"):
        _read_table(str(bad))
    with pytest.raises(StageError, match="a shard of an earlier step is missing"):
        _read_table(str(tmp_path / "gone.parquet"))


def test_export_never_imports_pandas(tmp_path: Path) -> None:
    """pyarrow.dataset (behind pq.read_table) imports pandas: ~0.3 s in every export worker."""
    import subprocess
    import sys

    script = (
        "import atexit, sys\nsys.argv = ['curate', *sys.argv[1:]]\nfrom curate.cli import main\n"
        "atexit.register(lambda: print('pandas' in sys.modules))  # the command ends the process\n"
        "main()\n"
    )
    src = write_jsonl(tmp_path / "in.jsonl", make_records(50))
    run = subprocess.run(
        [sys.executable, "-c", script, "export", str(src), "-o", str(tmp_path / "out"), "-q", "-w", "1", "--validation", "0.1"],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "False"
