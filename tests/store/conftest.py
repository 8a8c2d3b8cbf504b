"""A local S3-compatible server (moto's, standalone, on 127.0.0.1) for the object-store tests.

Each test gets a fresh bucket on one server per xdist worker, and the environment a user would
set: credentials and ``AWS_ENDPOINT_URL`` (curate reads the standard variables). The same client
code users run (pyarrow's S3 client) talks to it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

moto_server = pytest.importorskip("moto.server", reason="moto is a dev dependency (pip install -e '.[dev]')")

_counter = itertools.count()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The variables a user of an S3-compatible store sets; also set in this process."""
    env = {
        "AWS_ACCESS_KEY_ID": "curate-test-key",
        "AWS_SECRET_ACCESS_KEY": "curate-test-secret-do-not-log",
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from curate.io import store

    store._filesystem.cache_clear()
    return env


@pytest.fixture
def bucket(s3_env: dict[str, str]) -> str:
    """A fresh, empty bucket: ``s3://NAME``."""
    import pyarrow.fs as pafs

    name = f"curate-test-{os.getpid()}-{next(_counter)}"
    fs = pafs.S3FileSystem(
        endpoint_override=s3_env["AWS_ENDPOINT_URL"].split("://", 1)[1], scheme="http", region="us-east-1", allow_bucket_creation=True
    )
    fs.create_dir(name)
    return f"s3://{name}"


@pytest.fixture
def subprocess_env(s3_env: dict[str, str]) -> dict[str, str]:
    """os.environ for a `curate` subprocess that talks to the test server."""
    return os.environ.copy() | s3_env
