"""A global stage's key files read back as one frame, each row tagged with its shard's position."""

from pathlib import Path

import polars as pl

from curate.engines.base import scan_keys, write_keys_file


def test_each_key_row_carries_its_shard_s_position_in_the_given_order(tmp_path: Path) -> None:
    files = []
    for name, ids in (("s2", ["c", "d"]), ("s0", ["a"]), ("s1", ["e", "f", "g"])):
        path = tmp_path / "_keys" / f"{name}.parquet"
        write_keys_file(pl.DataFrame({"id": ids, "h": [len(i) for i in ids]}, schema={"id": pl.String, "h": pl.UInt64}), path)
        files.append(str(path))
    got = scan_keys(files).collect()
    assert got["id"].to_list() == ["c", "d", "a", "e", "f", "g"]
    assert got["_shard"].to_list() == [0, 0, 1, 2, 2, 2]
    assert got.schema["_shard"] == pl.Int32


def test_key_files_an_earlier_version_wrote_with_a_shard_column_read_the_same(tmp_path: Path) -> None:
    """Before, each key file held its own ``_shard`` column; a resumed workdir may mix both."""
    old, new = tmp_path / "old.parquet", tmp_path / "new.parquet"
    pl.DataFrame({"id": ["a"], "h": [1], "_shard": [7]}, schema={"id": pl.String, "h": pl.UInt64, "_shard": pl.Int32}).write_parquet(old)
    write_keys_file(pl.DataFrame({"id": ["b"], "h": [2]}, schema={"id": pl.String, "h": pl.UInt64}), new)
    for files, shards in (([str(old), str(new)], [0, 1]), ([str(new), str(old)], [0, 1])):
        got = scan_keys(files).collect()
        assert got["_shard"].to_list() == shards
        assert set(got.columns) == {"id", "h", "_shard"}
