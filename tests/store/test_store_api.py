"""curate.io.store against a local S3-compatible server: the few calls everything else uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.errors import ConfigError
from curate.io import store


def test_a_written_object_reads_back_and_lists(bucket: str) -> None:
    store.write_bytes(f"{bucket}/a/b.json", b'{"x": 1}')
    assert store.read_bytes(f"{bucket}/a/b.json") == b'{"x": 1}'
    assert [f.url for f in store.list_files(f"{bucket}/a")] == [f"{bucket}/a/b.json"]


def test_a_missing_object_reads_as_none(bucket: str) -> None:
    assert store.read_bytes(f"{bucket}/nothing.json") is None
    assert store.info(f"{bucket}/nothing.json") is None


def test_upload_and_download_round_trip(bucket: str, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 1000)
    store.upload(src, f"{bucket}/x/src.bin")
    store.download(f"{bucket}/x/src.bin", tmp_path / "back" / "src.bin")
    assert (tmp_path / "back" / "src.bin").read_bytes() == src.read_bytes()
    with store.open_input(f"{bucket}/x/src.bin") as fh:
        fh.seek(256)
        assert fh.read(3) == bytes([0, 1, 2])


def test_delete_prefix_removes_every_object(bucket: str) -> None:
    for k in ("p/1", "p/q/2", "keep/3"):
        store.write_bytes(f"{bucket}/{k}", b"x")
    store.delete_prefix(f"{bucket}/p")
    assert [f.url for f in store.list_files(bucket)] == [f"{bucket}/keep/3"]


def test_credentials_in_a_url_are_refused() -> None:
    with pytest.raises(ConfigError, match="credentials in a URL"):
        store.check_url("s3://AKIA:secret@bucket/out", "output.path")


@pytest.mark.parametrize("url,expected", [("s3:/b/k", "s3://b/k"), ("s3://b/k/", "s3://b/k"), ("gs://b", "gs://b")])
def test_urls_are_normalised(url: str, expected: str) -> None:
    assert store.normalise(url) == expected


def test_a_config_with_credentials_in_a_url_is_refused_without_printing_them(tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = tmp_path / "c.yaml"
    cfg.write_text("workdir: s3://AKIAEXAMPLE:supersecret@bucket/work\n")
    proc = subprocess.run([sys.executable, "-m", "curate", "run", str(cfg)], capture_output=True, text=True)
    assert proc.returncode == 2 and "credentials in a URL are refused" in proc.stderr
    assert "supersecret" not in proc.stderr + proc.stdout and "AKIAEXAMPLE" not in proc.stderr + proc.stdout


@pytest.mark.parametrize("url", ["s3://u:hunter2@bucket/x", "s3://bucket/x?secret_key=hunter2", "gs://bucket/x#hunter2"])
def test_every_store_call_refuses_a_url_that_could_carry_a_secret_without_echoing_it(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        store.list_files(url)
    assert "hunter2" not in str(err.value) + (err.value.hint or "")


def test_an_azure_container_at_account_url_is_not_taken_for_credentials() -> None:
    store.check_url("abfs://container@account.dfs.core.windows.net/data", "input")
    with pytest.raises(ConfigError, match="credentials"):
        store.check_url("abfs://container:key@account.dfs.core.windows.net/data", "input")
