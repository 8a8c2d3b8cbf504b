"""The Ray engine gives the local engine's output: same ids kept, same ids rejected for the same reasons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from conftest import make_records, read_dir, read_rejected, write_config, write_jsonl
from curate.config import load_config
from curate.engines.executor import PoolExecutor
from curate.errors import InputError
from curate.pipeline import build_plan
from curate.runner import Runner, run_plan

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray
REPO = Path(__file__).parents[2]


@pytest.fixture(scope="session")
def ray_session() -> Any:
    """One local Ray instance for the whole session (start-up takes seconds)."""
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024 * 1024, log_to_driver=False)
    yield ray
    ray.shutdown()


def run(tmp: Path, config: Path, kind: str) -> Any:
    cfg = load_config(config)
    cfg = cfg.model_copy(update={"workdir": str(tmp / "work"), "output": cfg.output.model_copy(update={"path": str(tmp / "out")})})
    plan = build_plan(cfg)
    if kind == "ray":
        from curate.engines.ray import RayExecutor

        return run_plan(plan, RayExecutor(2))
    return run_plan(plan, PoolExecutor(2))


def test_example_pipeline_equals_the_local_engine(ray_session: Any, tmp_path: Path) -> None:
    config = REPO / "configs" / "full.yaml"
    local = run(tmp_path / "local", config, "local")
    on_ray = run(tmp_path / "ray", config, "ray")
    assert on_ray.manifest["engine"]["kind"] == "ray"
    for a, b in zip(local.steps, on_ray.steps, strict=True):
        assert a.stats.to_json() | {"cpu_seconds": 0, "bytes_written": 0} == b.stats.to_json() | {"cpu_seconds": 0, "bytes_written": 0}
    assert read_dir(tmp_path / "local" / "out")["id"].to_list() == read_dir(tmp_path / "ray" / "out")["id"].to_list()
    keep = ["id", "reject_stage", "reject_reason"]
    assert read_rejected(tmp_path / "local" / "work").select(keep).sort(keep).equals(read_rejected(tmp_path / "ray" / "work").select(keep).sort(keep))
    for rel in sorted(p.relative_to(tmp_path / "local" / "out") for p in (tmp_path / "local" / "out").rglob("*.parquet")):
        assert (tmp_path / "local" / "out" / rel).read_bytes() == (tmp_path / "ray" / "out" / rel).read_bytes()


def test_ray_run_resumes_like_the_local_engine(ray_session: Any, tmp_path: Path) -> None:
    from curate.engines.ray import RayExecutor

    write_jsonl(tmp_path / "d.jsonl", make_records(200, dup_every=5))
    path = write_config(tmp_path, {"input": {"paths": ["d.jsonl"], "rows_per_shard": 30}, "workdir": "w", "output": {"path": "o"}, "stages": [{"kind": "exact_dedup"}]})
    first = run_plan(build_plan(load_config(path)), RayExecutor(2))
    cfg = load_config(path)
    again = run_plan(build_plan(cfg.model_copy(update={"output": cfg.output.model_copy(update={"overwrite": True})}), resume=True), RayExecutor(2))
    assert [s.skipped for s in again.steps] == [True, True, True]
    assert again.steps[-1].stats.docs_kept == first.steps[-1].stats.docs_kept
    manifest = json.loads((tmp_path / "o" / "_manifest.json").read_text())
    assert manifest["engine"]["kind"] == "ray"


def test_user_errors_inside_ray_tasks_stay_user_errors(ray_session: Any, tmp_path: Path) -> None:
    from curate.engines.ray import RayExecutor

    write_jsonl(tmp_path / "d.jsonl", make_records(5), raw_lines={2: b"{bad"})
    path = write_config(tmp_path, {"input": {"paths": ["d.jsonl"], "strict": True}, "workdir": "w"})
    with pytest.raises(InputError) as err:
        run_plan(build_plan(load_config(path)), RayExecutor(2))
    assert "d.jsonl:3" in err.value.message


def test_the_cli_selects_the_ray_engine(ray_session: Any, cli: Any, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", make_records(20))
    path = write_config(tmp_path, {"input": {"paths": ["d.jsonl"]}, "workdir": "w", "output": {"path": "o"}})
    result = cli("run", path, "--engine", "ray", "-q")
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(tmp_path / "o" / "train").height == 20
    assert json.loads((tmp_path / "o" / "_manifest.json").read_text())["engine"]["kind"] == "ray"


class RecordingReporter:
    """Keeps what an engine reports, to compare the progress of both engines."""

    def __init__(self) -> None:
        self.started: list[tuple[str, int]] = []
        self.docs: dict[str, int] = {}
        self._step = ""

    def step_started(self, name: str, total_units: int, unit: str = "shards") -> None:
        self._step = name
        self.started.append((name, total_units))
        self.docs.setdefault(name, 0)

    def step_progress(self, units: int = 1, docs: int = 0) -> None:
        self.docs[self._step] += docs

    def step_finished(self, result: Any) -> None:
        pass

    def close(self) -> None:
        pass


def test_ray_progress_and_dedup_match_the_local_engine(ray_session: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-step units and documents reported, and MinHash's pieces (the most there can be) as Ray tasks,
    as on the local engine."""
    from curate.engines.ray import RayExecutor

    monkeypatch.setattr("curate.stages.minhash_dedup._ROWS_PER_PIECE", 1)

    write_jsonl(tmp_path / "d.jsonl", make_records(300, dup_every=4))
    stages = [{"kind": "minhash_dedup", "threshold": 0.7}, {"kind": "quality_score", "heuristics": ["gopher"]}]
    reports = {}
    for kind, executor in (("local", PoolExecutor), ("ray", RayExecutor)):
        (tmp_path / kind).mkdir()
        path = write_config(tmp_path / kind, {"input": {"paths": [str(tmp_path / "d.jsonl")], "rows_per_shard": 50}, "workdir": "w", "output": {"path": "o"}, "stages": stages})
        reporter = RecordingReporter()
        result = Runner(build_plan(load_config(path)), executor(2), reporter).run()
        reports[kind] = (reporter.started, reporter.docs, result.steps[1].stats.counters, result.steps[1].stats.rejected)
    assert reports["ray"] == reports["local"]
    assert reports["ray"][3]["near_duplicate"] > 0


def test_an_address_where_nothing_listens_fails_in_seconds(tmp_path: Path) -> None:
    import socket

    from curate.engines.ray_auth import check_reachable
    from curate.errors import ConfigError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConfigError, match=f"nothing answers at 127.0.0.1:{port}"):
        check_reachable(f"127.0.0.1:{port}", wait_s=1.0)


def test_selection_is_the_same_on_both_engines_and_any_worker_count(ray_session: Any, tmp_path: Path) -> None:
    from curate.engines.ray import RayExecutor

    records = make_records(240, seed=5)
    for i, r in enumerate(records):
        r["source"] = ("manual", "forum", "web")[i % 3]
    write_jsonl(tmp_path / "d.jsonl", records)
    write_jsonl(tmp_path / "target.jsonl", [{"text": r["text"]} for r in records[:30]])
    stages = [
        {"kind": "tokens", "tokenizer": "whitespace"},
        {"kind": "dsir_score", "target": [{"path": str(tmp_path / "target.jsonl")}], "buckets": 512},
        {"kind": "learnability_score", "target": [{"path": str(tmp_path / "target.jsonl")}], "mode": "online", "super_batch": 32, "table_bits": 14},
        {"kind": "select", "score": "learnability_kept * 1000 + learnability + dsir_score / 100", "budget": 2000, "unit": "tokens",
         "mixture": {"manual": 0.5, "forum": 0.3, "web": 0.2}},
    ]
    kept = {}
    for kind, executor in (("ray", RayExecutor(2)), ("local1", PoolExecutor(1)), ("local2", PoolExecutor(2))):
        rows = 30 if kind != "local2" else 70
        (tmp_path / kind).mkdir()
        path = write_config(tmp_path / kind, {"input": {"paths": [str(tmp_path / "d.jsonl")], "rows_per_shard": rows}, "workdir": "w", "output": {"path": "o"}, "seed": 3, "stages": stages})
        run_plan(build_plan(load_config(path)), executor)
        kept[kind] = read_dir(tmp_path / kind / "o").select("id", "learnability", "dsir_score").sort("id")
    assert kept["ray"].height > 0
    assert kept["ray"].equals(kept["local1"]) and kept["ray"].equals(kept["local2"])


def test_map_steps_reuse_the_same_worker_processes(ray_session: Any) -> None:
    """Every step's units run on Ray's worker processes, started once: no new processes per step
    (stages set up once per process stay set up for the next steps)."""
    import os

    from curate.engines.ray import RayExecutor

    executor = RayExecutor(2)
    first = set(executor.map_shards(os.getpid, [()] * 8, lambda r: None, []))
    second = set(executor.map_shards(os.getpid, [()] * 8, lambda r: None, []))
    third = set(executor.map(os.getpid, [()] * 8, lambda r: None))
    assert os.getpid() not in first
    assert len(first | second | third) <= 2


LOCAL_INSTANCE = """
import json, os, psutil
from curate.engines.ray import RayExecutor

def threads():
    import pyarrow
    return os.environ.get("POLARS_MAX_THREADS"), pyarrow.cpu_count(), pyarrow.io_thread_count()

executor = RayExecutor(2)
per_task = executor.map(threads, [()] * 4, lambda r: None)
children = psutil.Process().children(recursive=True)
daemons = [" ".join(p.cmdline()) for p in children]
retry = "RAY_raylet_client_connect_timeout_milliseconds"
raylet_retry = [p.environ().get(retry) for p in children if p.name() == "raylet" or "/raylet " in " ".join(p.cmdline())]
print(json.dumps({"per_task": per_task, "daemons": daemons, "driver_env": os.environ.get("POLARS_MAX_THREADS"),
                  "raylet_retry": raylet_retry, "driver_retry": os.environ.get(retry)}))
executor.close()
"""


def test_a_local_instance_gives_each_task_one_thread_and_runs_no_idle_daemons(tmp_path: Path) -> None:
    """A Ray instance the engine starts itself: each task's polars and Arrow pools hold the one CPU
    the task holds (the driver's environment left as it was), and the autoscaler monitor, the log
    monitor and the dashboard's API server, which such a run never uses, are not left running.
    Ray's notice that the instance uses token authentication (its default, and curate's wish) is
    not printed on every run. Its raylet retries connecting to its own object store every 100 ms,
    not every second (``_LOCAL_DAEMON_ENV``)."""
    import os
    import subprocess
    import sys

    pytest.importorskip("psutil")
    env = {k: v for k, v in os.environ.items() if k not in ("POLARS_MAX_THREADS", "RAY_ADDRESS", "RAY_AUTH_MODE")} | {"RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run([sys.executable, "-c", LOCAL_INSTANCE], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Token authentication" not in done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["per_task"] == [["1", 1, 1]] * 4
    assert seen["driver_env"] is None
    assert seen["raylet_retry"] == ["100"]
    assert seen["driver_retry"] is None
    assert any("raylet" in d for d in seen["daemons"])
    assert not [d for d in seen["daemons"] if any(name in d for name in ("monitor.py", "dashboard.py"))]


def test_a_local_instance_starts_without_the_monitor_log_monitor_and_api_server() -> None:
    """A Ray instance the engine starts for the run never starts the autoscaler's monitor, the log
    monitor (a fixed-size instance, worker output not sent to the driver) or the dashboard's API
    server (tasks never use it; ``ray.init`` waited for it), its tasks run, and Ray's own parameters
    and start steps are left as they were once it is up."""
    import subprocess
    import sys

    script = (
        "import ray\n"
        "from ray._private.parameter import RayParams\n"
        "from curate.engines.ray import RayExecutor\n"
        "from ray._private.node import Node\n"
        "before = RayParams.__init__, Node.start_api_server\n"
        "e = RayExecutor(1)\n"
        "e._connect()\n"
        "node = ray._private.worker._global_node\n"
        "p = node._ray_params\n"
        "import os\n"
        "started = [f for f in os.listdir(node.get_logs_dir_path()) if f.startswith('dashboard.')]\n"
        "doubled = e.map(abs, [(-2,), (-3,)], lambda r: None)\n"
        "print(p.no_monitor, p.include_log_monitor, (RayParams.__init__, Node.start_api_server) == before, started, doubled)\n"
        "e.close()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "True False True [] [2, 3]"
