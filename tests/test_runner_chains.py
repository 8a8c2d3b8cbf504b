"""Fused map chains write a document's text once: only the chain's last step holds kept data files.

The steps inside a chain write their rejected rows, stats and manifest (counts that add up) but
no kept rows; anything that must read one of them gets it recomputed from the nearest step that
holds data, and a resumed or partial run gives the bytes of a clean one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import make_records, read_dir, read_rejected, write_config, write_jsonl
from curate.config import load_config
from curate.engines.executor import SerialExecutor
from curate.errors import StageError
from curate.pipeline import build_plan
from curate.runner import run_plan

CHAIN = [
    {"kind": "filter", "rules": {"not_first": "n >= 6"}},
    {"kind": "filter", "rules": {"not_every_seventh": "n % 7 != 3"}},
    {"kind": "filter", "rules": {"not_every_eleventh": "n % 11 != 5"}},
]
"""Three map stages, fused into one chain (filters on a metadata column: the chain is what is
tested here, not scoring)."""
INNER = ["01_filter", "02_filter"]
END = "03_filter"


def project(root: Path, **extra: Any) -> dict[str, Any]:
    write_jsonl(root / "raw" / "a.jsonl", make_records(160, seed=1, dup_every=6), raw_lines={4: b"{bad"})
    write_jsonl(root / "raw" / "b.jsonl", make_records(90, seed=2))
    cfg: dict[str, Any] = {
        "input": {"paths": [str(root / "raw")], "rows_per_shard": 30},
        "workdir": str(root / "work"),
        "output": {"path": str(root / "out"), "split": {"validation": 0.1}, "rows_per_shard": 40, "overwrite": True},
        "engine": {"workers": 1},
        "seed": 7,
        "stages": CHAIN,
    }
    cfg.update(extra)
    return cfg


def run_cfg(root: Path, cfg: dict[str, Any], executor: Any = None, **kw: Any) -> Any:
    return run_plan(build_plan(load_config(write_config(root, cfg)), **kw), executor or SerialExecutor())


def manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "_manifest.json").read_text())


def kept_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet"))


def parquet_bytes(folder: Path) -> dict[str, bytes]:
    """Every Parquet file under a folder (data and rejected sets), by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.parquet")) if not p.name.startswith(".")}


def workdir_rejected(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root / "work")): p.read_bytes() for p in sorted((root / "work").glob("*/rejected/*.parquet"))}


@pytest.fixture
def clean(tmp_path: Path) -> Path:
    """An uninterrupted run of the chain: what every other run must equal, byte for byte."""
    root = tmp_path / "clean"
    run_cfg(root, project(root))
    return root


def test_a_chain_writes_kept_rows_only_at_its_end(clean: Path) -> None:
    work = clean / "work"
    report = json.loads((work / "_run.json").read_text())
    for name in INNER:
        assert not kept_files(work / name), f"{name} wrote kept rows"
        m = manifest(work / name)
        c = m["counts"]
        assert c["docs_in"] + c["docs_added"] == c["docs_kept"] + c["docs_rejected"]
        assert m["materialized"] is False
        assert m["curate_dataset"]["materialized"] is False and m["curate_dataset"]["data_files"] == []
        assert m["curate_dataset"]["recompute_from"] == "00_ingest" and m["curate_dataset"]["chain_end"] == END
        assert len(list((work / name / "_stats").glob("*.json"))) == len(kept_files(work / "00_ingest"))
    assert read_rejected(work / "02_filter").height == manifest(work / "02_filter")["counts"]["docs_rejected"] > 0
    end = manifest(work / END)
    assert end["curate_dataset"]["materialized"] is True
    assert [f.name for f in kept_files(work / END)] == end["curate_dataset"]["data_files"]
    assert read_dir(work / END).height == end["counts"]["docs_kept"]
    assert [s.get("materialized") for s in report["steps"]] == [True, False, False, True, None]
    # nothing lost: every ingested document is in the release or in one rejected set
    totals = report["totals"]
    assert totals["docs_in"] + totals["docs_added"] == read_dir(clean / "out").height + read_rejected(work).height


@pytest.mark.parametrize("fail_after", [0, 3])
def test_a_run_killed_between_links_resumes_to_the_bytes_of_a_clean_run(
    tmp_path: Path, clean: Path, monkeypatch: pytest.MonkeyPatch, fail_after: int
) -> None:
    """The chain's end dies writing its kept rows of shard N: the earlier links of that shard have
    saved their rejected rows and stats; the resumed run recomputes them in memory, rewrites nothing."""
    from curate.engines import base

    root = tmp_path / "killed"
    cfg = project(root)
    real, calls = base.write_routed, []

    def dies(folder: Path, name: str, *args: Any) -> int:
        calls.append(name)
        if len(calls) > fail_after:
            raise KeyboardInterrupt  # what a SIGKILL leaves: the earlier links' files, not the end's
        return real(folder, name, *args)

    with monkeypatch.context() as m:
        m.setattr(base, "write_routed", dies)
        with pytest.raises(KeyboardInterrupt):
            run_cfg(root, cfg)
    stats = root / "work" / "01_filter" / "_stats"
    assert len(list(stats.glob("*.json"))) == fail_after + 1  # the first link got one shard further
    saved = {p.name: p.read_bytes() for p in stats.glob("*.json")}
    run_cfg(root, cfg, resume=True)
    assert {p.name: p.read_bytes() for p in stats.glob("*.json") if p.name in saved} == saved  # not rewritten
    assert parquet_bytes(root / "out") == parquet_bytes(clean / "out")
    assert workdir_rejected(root) == workdir_rejected(clean)
    assert parquet_bytes(root / "work" / END) == parquet_bytes(clean / "work" / END)
    for name in INNER:
        assert not kept_files(root / "work" / name)
        assert manifest(root / "work" / name)["counts"] | {"cpu_seconds": 0} == manifest(clean / "work" / name)["counts"] | {"cpu_seconds": 0}


def test_a_link_whose_recomputed_counts_differ_from_its_saved_ones_stops_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from curate.engines import base

    cfg = project(tmp_path)

    def dies(*args: Any) -> int:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(base, "write_routed", dies)
        with pytest.raises(KeyboardInterrupt):
            run_cfg(tmp_path, cfg)
    sidecar = next((tmp_path / "work" / "02_filter" / "_stats").glob("*.json"))
    data = json.loads(sidecar.read_text())
    data["stats"]["docs_kept"] += 1  # as if the filter had kept another row last time
    sidecar.write_text(json.dumps(data))
    with pytest.raises(StageError, match=r"\(filter\) gave other counts .* not deterministic"):
        run_cfg(tmp_path, cfg, resume=True)


def test_from_a_step_inside_a_chain_recomputes_its_source_in_memory(tmp_path: Path, clean: Path) -> None:
    root = tmp_path / "from"
    cfg = project(root)
    run_cfg(root, cfg)
    report = run_cfg(root, cfg, from_step="02_filter")
    assert [s.skipped for s in report.steps] == [True, True, False, False, False]
    assert not kept_files(root / "work" / "01_filter")  # replayed, never written
    assert parquet_bytes(root / "out") == parquet_bytes(clean / "out")
    assert workdir_rejected(root) == workdir_rejected(clean)


def test_until_a_step_inside_the_chain_writes_its_rows_and_the_rest_reads_them(tmp_path: Path, clean: Path) -> None:
    root = tmp_path / "until"
    cfg = project(root)
    part = run_cfg(root, cfg, until_step="02_filter")
    assert [s.folder for s in part.steps] == ["00_ingest", *INNER]
    assert not kept_files(root / "work" / "01_filter")
    assert manifest(root / "work" / "02_filter")["curate_dataset"]["materialized"] is True
    assert read_dir(root / "work" / "02_filter").height == part.steps[-1].stats.docs_kept
    rest = run_cfg(root, cfg, resume=True)
    assert [s.skipped for s in rest.steps] == [True, True, True, False, False]
    assert parquet_bytes(root / "out") == parquet_bytes(clean / "out")
    assert workdir_rejected(root) == workdir_rejected(clean)


def test_until_a_completed_inner_step_rematerialises_it(tmp_path: Path, clean: Path) -> None:
    """After a whole run, `--until 02_filter --resume` writes the filter's kept rows (recomputed from
    ingest) and changes nothing else; its manifest then lists them."""
    root = tmp_path / "again"
    cfg = project(root)
    run_cfg(root, cfg)
    rejected = workdir_rejected(root)
    report = run_cfg(root, cfg, resume=True, until_step="02_filter")
    assert all(s.skipped for s in report.steps) and report.steps[-1].materialized is True
    filt = manifest(root / "work" / "02_filter")
    assert filt["curate_dataset"]["materialized"] is True
    assert [f.name for f in kept_files(root / "work" / "02_filter")] == filt["curate_dataset"]["data_files"]
    assert read_dir(root / "work" / "02_filter").height == filt["counts"]["docs_kept"]
    assert workdir_rejected(root) == rejected
    assert not kept_files(root / "work" / "01_filter")


def test_resume_after_removing_the_chain_s_last_stage_equals_a_fresh_run(tmp_path: Path) -> None:
    """The filter, complete inside the chain, becomes its end: rematerialised, not recomputed."""
    a, b = tmp_path / "a", tmp_path / "b"
    cfg = project(a)
    run_cfg(a, cfg)
    cfg["stages"] = CHAIN[:2]
    resumed = run_cfg(a, cfg, resume=True)
    assert [s.skipped for s in resumed.steps] == [True, True, True, False]
    fresh_cfg = project(b)
    fresh_cfg["stages"] = CHAIN[:2]
    fresh = run_cfg(b, fresh_cfg)
    assert parquet_bytes(a / "out") == parquet_bytes(b / "out")
    assert resumed.manifest["totals"] == fresh.manifest["totals"]
    assert workdir_rejected(a) == workdir_rejected(b)


def test_a_command_given_a_step_inside_a_chain_fails_clearly_and_its_end_works(cli: Any, tmp_path: Path, clean: Path) -> None:
    inner = clean / "work" / "01_filter"
    result = cli("export", inner, "-o", tmp_path / "x", "-q")
    assert result.exit_code == 2
    assert "holds no kept data files" in result.stderr and END in result.stderr and "--until 01_filter" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()
    ok = cli("export", clean / "work" / END, "-o", tmp_path / "y", "-q")
    assert ok.exit_code == 0, ok.output
    assert sorted(read_dir(tmp_path / "y")["id"]) == sorted(read_dir(clean / "work" / END)["id"])
    # after `--until 01_filter --resume` the same folder is readable
    assert cli("run", clean / "config.yaml", "--until", "01_filter", "--resume", "-q").exit_code == 0
    again = cli("export", inner, "-o", tmp_path / "z", "-q")
    assert again.exit_code == 0, again.output
    assert read_dir(tmp_path / "z").height == manifest(inner)["counts"]["docs_kept"]


def test_chained_commands_publish_the_last_step_s_rows(cli: Any, tmp_path: Path) -> None:
    """`curate filter` adds the scoring it needs: a chain of two, whose output holds the filter's rows."""
    write_jsonl(tmp_path / "d.jsonl", make_records(80, seed=3))
    result = cli("filter", tmp_path / "d.jsonl", "-o", tmp_path / "f", "--rule", "enough=gopher_word_count >= 12", "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    m = manifest(tmp_path / "f")
    kept = read_dir(tmp_path / "f")
    assert kept.height == m["totals"]["docs_out"] > 0
    assert kept.height + read_rejected(tmp_path / "f").height == 80
    assert "gopher_word_count" in kept.columns
    nxt = cli("export", tmp_path / "f", "-o", tmp_path / "e", "-q")
    assert nxt.exit_code == 0, nxt.output
    assert read_dir(tmp_path / "e").height == kept.height


def test_the_ray_engine_keeps_the_same_ids_and_writes_text_once(tmp_path: Path, clean: Path) -> None:
    ray = pytest.importorskip("ray")
    from curate.engines.ray import RayExecutor

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024 * 1024, log_to_driver=False)
    try:
        root = tmp_path / "ray"
        run_cfg(root, project(root), RayExecutor(2))
    finally:
        if started:
            ray.shutdown()
    assert read_dir(root / "out")["id"].to_list() == read_dir(clean / "out")["id"].to_list()
    assert parquet_bytes(root / "out") == parquet_bytes(clean / "out")
    keep = ["id", "reject_stage", "reject_reason"]
    assert read_rejected(root / "work").select(keep).sort(keep).equals(read_rejected(clean / "work").select(keep).sort(keep))
    for name in INNER:
        assert not kept_files(root / "work" / name)


def test_a_global_stage_after_a_chain_reads_the_chain_s_end(tmp_path: Path) -> None:
    root = tmp_path / "g"
    cfg = project(root, stages=[*CHAIN[:2], {"kind": "exact_dedup"}])
    report = run_cfg(root, cfg)
    assert not kept_files(root / "work" / "01_filter")
    assert kept_files(root / "work" / "02_filter") and kept_files(root / "work" / "03_exact_dedup")
    assert report.steps[3].stats.docs_in == report.steps[2].stats.docs_kept
    assert read_dir(root / "out").height == report.steps[3].stats.docs_kept


# ---------------------------------------------------------------- a global stage heads the chain after it

HEADED = [{"kind": "exact_dedup"}, *CHAIN[:2]]
"""exact_dedup's apply fused with the two filters after it: only 03_filter writes kept rows."""


def test_a_global_stage_s_apply_heads_the_chain_after_it(tmp_path: Path) -> None:
    root = tmp_path / "fused"
    report = run_cfg(root, project(root, stages=HEADED))
    work = root / "work"
    for name in ("01_exact_dedup", "02_filter"):
        assert not kept_files(work / name)
        m = manifest(work / name)
        assert m["curate_dataset"]["materialized"] is False and m["curate_dataset"]["chain_end"] == "03_filter"
    assert list((work / "01_exact_dedup" / "_decisions").glob("*.parquet"))
    assert read_rejected(work / "01_exact_dedup").height == report.steps[1].stats.docs_rejected > 0
    assert [s.materialized for s in report.steps] == [True, False, False, True, None]
    # the same steps, each written (--until one step at a time), give the same bytes
    step = tmp_path / "stepwise"
    cfg = project(step, stages=HEADED)
    for until in ("exact_dedup", "02_filter"):
        run_cfg(step, cfg, resume=True, until_step=until)
    run_cfg(step, cfg, resume=True)
    assert kept_files(step / "work" / "01_exact_dedup") and kept_files(step / "work" / "02_filter")
    assert parquet_bytes(step / "out") == parquet_bytes(root / "out")
    assert workdir_rejected(step) == workdir_rejected(root)
    assert parquet_bytes(step / "work" / "03_filter") == parquet_bytes(work / "03_filter")


def test_a_run_killed_inside_a_headed_chain_resumes_to_the_bytes_of_a_clean_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from curate.engines import base

    clean, root = tmp_path / "clean", tmp_path / "killed"
    run_cfg(clean, project(clean, stages=HEADED))
    cfg = project(root, stages=HEADED)
    real, calls = base.write_routed, []

    def dies(folder: Path, name: str, *args: Any) -> int:
        calls.append(name)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return real(folder, name, *args)

    with monkeypatch.context() as m:
        m.setattr(base, "write_routed", dies)
        with pytest.raises(KeyboardInterrupt):
            run_cfg(root, cfg)
    assert len(list((root / "work" / "01_exact_dedup" / "_stats").glob("*.json"))) == 3
    run_cfg(root, cfg, resume=True)
    assert parquet_bytes(root / "out") == parquet_bytes(clean / "out")
    assert workdir_rejected(root) == workdir_rejected(clean)
    assert manifest(root / "work" / "01_exact_dedup")["counts"]["rejected_by_reason"] == manifest(clean / "work" / "01_exact_dedup")["counts"]["rejected_by_reason"]


def test_from_a_map_step_after_a_fused_global_stage_replays_its_decisions(tmp_path: Path) -> None:
    clean, root = tmp_path / "clean", tmp_path / "from"
    run_cfg(clean, project(clean, stages=HEADED))
    cfg = project(root, stages=HEADED)
    run_cfg(root, cfg)
    report = run_cfg(root, cfg, from_step="03_filter")
    assert [s.skipped for s in report.steps] == [True, True, True, False, False]
    assert not kept_files(root / "work" / "01_exact_dedup") and not kept_files(root / "work" / "02_filter")
    assert parquet_bytes(root / "out") == parquet_bytes(clean / "out")


def test_resume_after_removing_the_map_steps_after_a_global_stage_equals_a_fresh_run(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    cfg = project(a, stages=HEADED)
    run_cfg(a, cfg)
    cfg["stages"] = HEADED[:1]
    resumed = run_cfg(a, cfg, resume=True)
    assert [s.skipped for s in resumed.steps] == [True, True, False]
    assert manifest(a / "work" / "01_exact_dedup")["curate_dataset"]["materialized"] is True
    fresh = run_cfg(b, project(b, stages=HEADED[:1]))
    assert parquet_bytes(a / "out") == parquet_bytes(b / "out")
    assert resumed.manifest["totals"] == fresh.manifest["totals"]
    assert workdir_rejected(a) == workdir_rejected(b)


# ---------------------------------------------------------------- a global stage feeding the next global stage

TWO_GLOBALS = [{"kind": "exact_dedup"}, {"kind": "minhash_dedup", "threshold": 0.7}, *CHAIN[:1]]
"""exact_dedup's kept rows are read only by minhash_dedup: its apply computes minhash's keys in
the same task and writes no kept rows; minhash's apply replays it from the ingested shards."""


def two_globals(root: Path) -> dict[str, Any]:
    cfg = project(root, stages=TWO_GLOBALS)
    # near copies that exact dedup keeps (other case) and MinHash removes (words are lowercased)
    copies = [{"text": r["text"].upper(), "n": 1000 + i} for i, r in enumerate(make_records(40, seed=1)) if i % 3 == 1]
    write_jsonl(root / "raw" / "c.jsonl", copies)
    return cfg


def test_a_global_stage_followed_by_a_global_stage_writes_no_kept_rows(tmp_path: Path) -> None:
    root = tmp_path / "fused"
    report = run_cfg(root, two_globals(root))
    work = root / "work"
    assert not kept_files(work / "01_exact_dedup")
    m = manifest(work / "01_exact_dedup")
    assert m["curate_dataset"]["materialized"] is False
    assert (m["curate_dataset"]["recompute_from"], m["curate_dataset"]["chain_end"]) == ("00_ingest", "03_filter")
    assert read_rejected(work / "01_exact_dedup").height == m["counts"]["docs_rejected"] > 0
    assert read_rejected(work / "02_minhash_dedup").height == report.steps[2].stats.docs_rejected > 0
    ingested = [p.name for p in kept_files(work / "00_ingest")]
    assert sorted(p.name for p in (work / "02_minhash_dedup" / "_keys").glob("*.parquet")) == ingested
    assert [s.materialized for s in report.steps] == [True, False, False, True, None]
    assert report.steps[2].stats.docs_in == report.steps[1].stats.docs_kept
    # the same steps, each written (--until one step at a time), give the same bytes
    step = tmp_path / "stepwise"
    cfg = two_globals(step)
    for until in ("exact_dedup", "minhash_dedup"):
        run_cfg(step, cfg, resume=True, until_step=until)
    run_cfg(step, cfg, resume=True)
    assert kept_files(step / "work" / "01_exact_dedup") and kept_files(step / "work" / "02_minhash_dedup")
    assert parquet_bytes(step / "out") == parquet_bytes(root / "out")
    assert workdir_rejected(step) == workdir_rejected(root)
    assert read_dir(root / "out").height + read_rejected(work).height == report.steps[0].stats.docs_in


def test_a_run_killed_between_a_global_apply_and_the_next_stage_s_keys_resumes_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed after exact dedup saved shard 2's rejected rows and stats but before minhash's keys of
    that shard: the resumed run recomputes the shard in memory (its saved counts checked) and
    writes only the missing keys."""
    from curate.engines import base

    clean, root = tmp_path / "clean", tmp_path / "killed"
    run_cfg(clean, two_globals(clean))
    cfg = two_globals(root)
    real, calls = base._write_keys, []

    def dies(link: Any, shard: str, *args: Any) -> Any:
        if link.stage.kind == "minhash_dedup":
            calls.append(shard)
            if len(calls) > 1:
                raise KeyboardInterrupt
        return real(link, shard, *args)

    with monkeypatch.context() as m:
        m.setattr(base, "_write_keys", dies)
        with pytest.raises(KeyboardInterrupt):
            run_cfg(root, cfg)
    work = root / "work"
    assert len(list((work / "01_exact_dedup" / "_stats").glob("*.json"))) == 2
    assert len(list((work / "02_minhash_dedup" / "_keys").glob("*.parquet"))) == 1
    saved = {p.name: p.read_bytes() for p in (work / "01_exact_dedup" / "_stats").glob("*.json")}
    run_cfg(root, cfg, resume=True)
    assert {p.name: p.read_bytes() for p in (work / "01_exact_dedup" / "_stats").glob("*.json") if p.name in saved} == saved
    assert parquet_bytes(root / "out") == parquet_bytes(clean / "out")
    assert workdir_rejected(root) == workdir_rejected(clean)
    for name in ("01_exact_dedup", "02_minhash_dedup"):
        assert manifest(work / name)["counts"] | {"cpu_seconds": 0} == manifest(clean / "work" / name)["counts"] | {"cpu_seconds": 0}


def test_from_a_global_stage_after_a_fused_global_stage_replays_it_for_its_keys(tmp_path: Path) -> None:
    clean, root = tmp_path / "clean", tmp_path / "from"
    run_cfg(clean, two_globals(clean))
    cfg = two_globals(root)
    run_cfg(root, cfg)
    report = run_cfg(root, cfg, from_step="02_minhash_dedup")
    assert [s.skipped for s in report.steps] == [True, True, False, False, False]
    assert not kept_files(root / "work" / "01_exact_dedup")
    assert parquet_bytes(root / "out") == parquet_bytes(clean / "out")
    assert workdir_rejected(root) == workdir_rejected(clean)


def test_until_a_fused_global_stage_writes_its_rows(tmp_path: Path) -> None:
    root = tmp_path / "until"
    cfg = two_globals(root)
    run_cfg(root, cfg)
    report = run_cfg(root, cfg, resume=True, until_step="exact_dedup")
    assert report.steps[-1].materialized is True
    m = manifest(root / "work" / "01_exact_dedup")
    assert read_dir(root / "work" / "01_exact_dedup").height == m["counts"]["docs_kept"]
    assert [f.name for f in kept_files(root / "work" / "01_exact_dedup")] == m["curate_dataset"]["data_files"]


def test_two_global_stages_on_the_ray_engine_give_the_local_bytes(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    from curate.engines.ray import RayExecutor

    clean, root = tmp_path / "clean", tmp_path / "ray"
    run_cfg(clean, two_globals(clean))
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024 * 1024, log_to_driver=False)
    try:
        run_cfg(root, two_globals(root), RayExecutor(2))
    finally:
        if started:
            ray.shutdown()
    assert parquet_bytes(root / "out") == parquet_bytes(clean / "out")
    assert workdir_rejected(root) == workdir_rejected(clean)
    assert not kept_files(root / "work" / "01_exact_dedup")


def codecs(folder: Path) -> set[str]:
    import pyarrow.parquet as pq

    return {pq.ParquetFile(p).metadata.row_group(0).column(0).compression for p in kept_files(folder)}


def test_workdir_shards_no_command_publishes_are_lz4_and_published_ones_zstd(cli: Any, tmp_path: Path) -> None:
    root = tmp_path / "run"
    run_cfg(root, two_globals(root))
    work = root / "work"
    assert codecs(work / "00_ingest") == {"LZ4"}  # read by the next steps only
    assert codecs(work / "03_filter") == {"UNCOMPRESSED"}  # read by the export only, which re-encodes it
    published = [*(work / "02_minhash_dedup" / "rejected").glob("*.parquet"), *(root / "out").rglob("*.parquet")]
    assert published and {codec for p in published for codec in codecs_of(p)} == {"ZSTD"}  # rejected sets, the export
    # a single command publishes its last step's shards as they are: zstd
    write_jsonl(tmp_path / "d.jsonl", make_records(80, seed=3, dup_every=5))
    result = cli("dedup", tmp_path / "d.jsonl", "-o", tmp_path / "dd", "-w", "1", "-q")
    assert result.exit_code == 0, result.output
    assert codecs(tmp_path / "dd") == {"ZSTD"}


def codecs_of(path: Path) -> set[str]:
    import pyarrow.parquet as pq

    md = pq.ParquetFile(path).metadata
    return {md.row_group(g).column(c).compression for g in range(md.num_row_groups) for c in range(md.num_columns)}


def test_resume_with_the_second_global_stage_changed_replays_the_first_and_equals_a_fresh_run(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    cfg = two_globals(a)
    run_cfg(a, cfg)
    stats = {p.name: p.read_bytes() for p in (a / "work" / "01_exact_dedup" / "_stats").glob("*.json")}
    changed = [TWO_GLOBALS[0], {**TWO_GLOBALS[1], "threshold": 0.5}, *TWO_GLOBALS[2:]]
    resumed = run_cfg(a, cfg | {"stages": changed}, resume=True)
    assert [s.skipped for s in resumed.steps] == [True, True, False, False, False]
    assert not kept_files(a / "work" / "01_exact_dedup")  # replayed from its decisions, never written
    assert {p.name: p.read_bytes() for p in (a / "work" / "01_exact_dedup" / "_stats").glob("*.json")} == stats
    fresh = run_cfg(b, two_globals(b) | {"stages": changed})
    assert parquet_bytes(a / "out") == parquet_bytes(b / "out")
    assert workdir_rejected(a) == workdir_rejected(b)
    assert resumed.manifest["totals"] == fresh.manifest["totals"]


def test_a_workdir_shard_reused_by_a_publish_is_written_as_a_fresh_run_writes_it(tmp_path: Path) -> None:
    """A resume may publish shards a step wrote for the workdir only (lz4): the output must hold
    the bytes an uninterrupted run publishes (zstd)."""
    import polars as pl

    from curate.io.shards import WORK_COMPRESSION, write_parquet_atomic
    from curate.runner import _publish_shard

    frame = pl.DataFrame({"id": [f"d{i}" for i in range(500)], "text": [f"text {i} " * 20 for i in range(500)], "source": ["s"] * 500})
    write_parquet_atomic(frame, tmp_path / "work.parquet", WORK_COMPRESSION)
    write_parquet_atomic(frame, tmp_path / "fresh.parquet")
    _publish_shard(tmp_path / "work.parquet", tmp_path / "published.parquet")
    assert (tmp_path / "published.parquet").read_bytes() == (tmp_path / "fresh.parquet").read_bytes()
    _publish_shard(tmp_path / "fresh.parquet", tmp_path / "linked.parquet")
    assert (tmp_path / "linked.parquet").read_bytes() == (tmp_path / "fresh.parquet").read_bytes()
