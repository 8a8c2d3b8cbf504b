"""WARC ingest and extract_html on the Ray engine: the local engine's records, watchdog and all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import read_dir, read_rejected, write_config

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_here() -> Any:
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024 * 1024, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


def test_warc_ingest_and_extract_html_give_the_local_engines_records(ray_here: Any, tmp_path: Path) -> None:
    from test_warc_ingest import page, response

    from curate.config import load_config
    from curate.engines.executor import PoolExecutor
    from curate.engines.ray import RayExecutor
    from curate.pipeline import build_plan
    from curate.runner import run_plan

    bomb = ("<html><body>" + "<div>" * 40_000 + "deep" + "</div>" * 40_000 + "</body></html>").encode()
    for f in range(2):
        records = [response(f"https://ex.com/{f}/{k}", page(f"{f}{k}", f"Main text {f} {k} of a page."), f"{f}-{k}") for k in range(5)]
        records.append(response(f"https://ex.com/{f}/bomb", bomb, f"{f}-bomb"))
        (tmp_path / f"c{f}.warc").write_bytes(b"".join(records))
    raw = write_config(tmp_path, {
        "input": {"paths": [str(tmp_path / "c0.warc"), str(tmp_path / "c1.warc")], "html": {"extractor": "resiliparse", "timeout_s": 0.5}},
        "stages": [{"kind": "url_filter", "url_dedup": True, "max_per_domain": 8}],
        "output": {"path": "out"},
    })
    results = {}
    for kind, executor in (("local", PoolExecutor(2)), ("ray", RayExecutor(2))):
        cfg = load_config(raw)
        cfg = cfg.model_copy(update={"workdir": str(tmp_path / kind / "work"), "output": cfg.output.model_copy(update={"path": str(tmp_path / kind / "out")})})
        run_plan(build_plan(cfg), executor)
        rejected = read_rejected(tmp_path / kind / "work")
        results[kind] = (sorted(read_dir(tmp_path / kind / "out")["id"].to_list()), sorted(zip(rejected["id"], rejected["reject_reason"], strict=True)))
    assert results["ray"] == results["local"]
    reasons = [r for _, r in results["local"][1]]
    assert reasons.count("extract_timeout") == 2 and reasons.count("domain_cap") == 2 and len(results["local"][0]) == 8
