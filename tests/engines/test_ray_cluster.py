"""A real two-node Ray cluster with token authentication on, as a user starts one with `ray start`.

The head finds a token in ``~/.ray/auth_token`` and turns token authentication on by itself; the
second node joins with ``RAY_AUTH_MODE=token`` (as the README says); ``curate run --address``
is given nothing but that token file, and its output must equal the local engine's byte for byte.
A wrong or missing token is one clear error, at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from curate.engines.ray_auth import auth_mode, explain_auth_error, find_token, host_port
from curate.errors import ConfigError

pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")
pytestmark = pytest.mark.ray
REPO = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
CURATE = [sys.executable, "-m", "curate"]
AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment with a private HOME and no Ray auth settings of its own (a local
    ``ray.init`` in this pytest worker sets ``RAY_AUTH_MODE=token`` in ``os.environ``)."""
    env = {k: v for k, v in os.environ.items() if k not in AUTH_VARS}
    return env | {"HOME": str(home), "RAY_USAGE_STATS_ENABLED": "0"} | extra


def ray_start(args: list[str], env: dict[str, str], log: Path) -> str:
    """Run ``ray start``; output to a file (its daemons would hold a pipe open)."""
    with log.open("wb") as out:
        code = subprocess.run([str(BIN / "ray"), "start", *args], env=env, stdout=out, stderr=subprocess.STDOUT, timeout=90).returncode
    text = log.read_text(errors="replace")
    assert code == 0, f"ray start {' '.join(args)} failed:\n{text[-3000:]}"
    return text


def stop_cluster(temp_dir: Path) -> None:
    """Stop every process of the cluster under ``temp_dir`` (``ray stop`` would stop all Ray
    processes on the machine, other tests' included): its daemons, found by the paths in their
    command lines, and all their descendants (workers, agents)."""
    marks = tuple(f"{flag}={temp_dir}" for flag in ("--log_dir", "--logs-dir", "--session-dir", "--temp-dir", "--raylet_socket_name", "--store_socket_name"))
    procs: dict[int, Any] = {}
    for proc in psutil.process_iter(["cmdline"]):
        if proc.pid != os.getpid() and any(arg.startswith(marks) for arg in proc.info["cmdline"] or ()):
            procs[proc.pid] = proc
    for proc in list(procs.values()):
        with contextlib.suppress(psutil.Error):
            procs.update({child.pid: child for child in proc.children(recursive=True)})
    for proc in procs.values():
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(list(procs.values()), timeout=10)


@contextlib.contextmanager
def token_cluster(home: Path) -> Iterator[dict[str, Any]]:
    """A head and a second node, one CPU each, on 127.0.0.1 with token authentication, in a
    private temp dir (a short path: Ray's socket paths must stay under 107 bytes); stopped on
    the way out, whatever happened."""
    (home / ".ray").mkdir(parents=True)
    token = secrets.token_hex(32)  # what `ray get-auth-token --generate` writes
    (home / ".ray" / "auth_token").write_text(token)
    temp_dir = Path(tempfile.mkdtemp(prefix="curate-ray-"))
    port = free_port()
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--object-store-memory", str(100 * 1024 * 1024), "--temp-dir", str(temp_dir), "--disable-usage-stats"]
    try:
        head = ray_start(
            ["--head", "--port", str(port), "--include-dashboard", "false", "--dashboard-port", str(free_port()), "--dashboard-agent-listen-port", str(free_port()), *common],
            clean_env(home),
            temp_dir / "head.log",
        )
        assert "Token authentication is enabled" in head, head[-2000:]
        ray_start(
            ["--address", f"127.0.0.1:{port}", "--dashboard-agent-listen-port", str(free_port()), *common],
            clean_env(home, RAY_AUTH_MODE="token"),
            temp_dir / "worker.log",
        )
        yield {"address": f"127.0.0.1:{port}", "temp_dir": temp_dir}
    finally:
        stop_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture
def spawn() -> Iterator[Any]:
    """Starts ``curate run`` of the example pipeline in the background; kills what is still
    running when the test ends."""
    procs: list[subprocess.Popen[str]] = []

    def curate_run(tmp: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
        args = [*CURATE, "run", str(REPO / "configs" / "example.yaml"), "--workdir", str(tmp / "work"), "--output", str(tmp / "out"), "-q", *extra]
        procs.append(subprocess.Popen(args, env=env, cwd=tmp.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        return procs[-1]

    yield curate_run
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out + err


def node_ids(temp_dir: Path) -> set[str]:
    """The nodes that started a Ray worker process (from the workers' own logs)."""
    found = set()
    for log in temp_dir.glob("session_*/logs/python-core-worker-*.log"):
        for line in log.read_text(errors="replace").splitlines():
            if "Initializing worker at address" in line and "node_id=" in line:
                found.add(line.split("node_id=")[1].split()[0])
    return found


@pytest.mark.cluster
def test_two_node_token_cluster_runs_the_example_like_the_local_engine(tmp_path: Path, spawn: Any) -> None:
    home = tmp_path / "home"
    (tmp_path / "empty-home").mkdir()
    local = spawn(tmp_path / "local", clean_env(home), "--engine", "local")  # while the cluster starts
    with token_cluster(home) as cluster:
        address = cluster["address"]
        on_ray = spawn(tmp_path / "ray", clean_env(home), "--address", address)  # the token file only
        # A wrong token and no token at all: one clear error each, at once (not 20 s of Ray's retries and a traceback).
        wrong = spawn(tmp_path / "wrong", clean_env(home, RAY_AUTH_TOKEN="0" * 64), "--address", address)
        missing = spawn(tmp_path / "missing", clean_env(tmp_path / "empty-home"), "--address", address)
        for proc, says in ((wrong, "rejected the token from RAY_AUTH_TOKEN"), (missing, "there is no Ray token on this machine")):
            code, output = finish(proc, timeout=60)
            assert code == 2, output
            assert says in output and "RAY_AUTH_TOKEN" in output and "ray get-auth-token" in output, output
            assert "Traceback" not in output and "InvalidAuthToken" not in output, output
        for proc in (local, on_ray):
            code, output = finish(proc)
            assert code == 0, output
        assert len(node_ids(cluster["temp_dir"])) == 2, "the work did not reach both nodes"

    assert json.loads((tmp_path / "ray" / "out" / "_manifest.json").read_text())["engine"]["kind"] == "ray"
    splits = sorted(p.name for p in (tmp_path / "local" / "out").iterdir() if p.is_dir() and not p.name.startswith("_"))
    assert splits == ["train", "validation"]
    for split in splits:
        ids = [pl.read_parquet(tmp_path / kind / "out" / split)["id"].to_list() for kind in ("local", "ray")]
        assert ids[0] == ids[1], split
    files = sorted(p.relative_to(tmp_path / "local" / "out") for p in (tmp_path / "local" / "out").rglob("*.parquet"))
    assert files == sorted(p.relative_to(tmp_path / "ray" / "out") for p in (tmp_path / "ray" / "out").rglob("*.parquet"))
    for rel in files:
        assert (tmp_path / "local" / "out" / rel).read_bytes() == (tmp_path / "ray" / "out" / rel).read_bytes(), rel


def test_token_sources_in_rays_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert find_token({}) is None
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("home-token\n")
    (tmp_path / "tok").write_text(" path-token\n")
    assert find_token({}) == (str(tmp_path / ".ray" / "auth_token"), "home-token")
    assert find_token({"RAY_AUTH_TOKEN_PATH": str(tmp_path / "tok")})[1] == "path-token"
    assert find_token({"RAY_AUTH_TOKEN": "env-token", "RAY_AUTH_TOKEN_PATH": str(tmp_path / "tok")}) == ("RAY_AUTH_TOKEN", "env-token")
    assert find_token({"RAY_AUTH_TOKEN": ""})[1] == "home-token"  # empty is unset, as in Ray
    with pytest.raises(ConfigError, match="RAY_AUTH_TOKEN_PATH=~/tok"):
        find_token({"RAY_AUTH_TOKEN_PATH": "~/tok"})  # Ray does not expand ~ (and aborts on it)
    assert auth_mode({"RAY_AUTH_MODE": "Token"}) == "token"
    with pytest.raises(ConfigError, match="allowed values are token and disabled"):
        auth_mode({"RAY_AUTH_MODE": "on"})
    assert [host_port(a) for a in ("10.0.0.1:6379", "[::1]:6379", "auto", "ray://h:10001", None)] == [("10.0.0.1", 6379), ("::1", 6379), None, None, None]


def test_a_rejection_buried_in_rays_connection_error_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in AUTH_VARS:
        monkeypatch.delenv(var, raising=False)
    try:
        try:
            raise RuntimeError("Failed to connect to GCS. Last connection error: ... RPC error: InvalidAuthToken: Authentication token is missing or incorrect")
        except RuntimeError as cause:
            raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.1:6379") from cause
    except ConnectionError as err:
        explained = explain_auth_error(err, "10.0.0.1:6379")
        monkeypatch.setenv("RAY_AUTH_TOKEN", "stale")
        wrong = explain_auth_error(err, "10.0.0.1:6379")
    assert isinstance(explained, ConfigError) and "no Ray token on this machine" in explained.message
    assert isinstance(wrong, ConfigError) and "rejected the token from RAY_AUTH_TOKEN" in wrong.message
    assert explain_auth_error(ConnectionError("Failed to connect to Ray cluster at 10.0.0.1:6379")) is None
