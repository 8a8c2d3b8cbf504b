"""One runner behind every front door: chained commands, reruns and resumes give what `curate run` gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from conftest import make_records, read_dir, read_rejected, write_config, write_jsonl
from curate.config import load_config
from curate.engines.executor import PoolExecutor, SerialExecutor
from curate.errors import ConfigError, CurateError, InputError
from curate.io.lock import FolderLock
from curate.pipeline import build_plan
from curate.runner import run_plan

RULES = {"enough_words": "gopher_word_count >= 12", "few_symbols": "gopher_hash_ratio <= 0.1"}


def raw_corpus(root: Path) -> Path:
    write_jsonl(root / "raw" / "a.jsonl", make_records(160, seed=1, dup_every=6), raw_lines={4: b"{bad"})
    write_jsonl(root / "raw" / "b.jsonl.gz", make_records(90, seed=2, dup_every=4))
    return root / "raw"


def data_bytes(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*.parquet"))
        if not any(part in ("rejected", "_rejected") for part in p.relative_to(folder).parts)
    }


def decisions(frame: pl.DataFrame) -> list[tuple[str, str]]:
    return sorted(zip(frame["id"].to_list(), frame["reject_reason"].to_list(), strict=True))


def test_six_commands_give_the_bytes_of_one_run(cli: Any, tmp_path: Path) -> None:
    raw = raw_corpus(tmp_path)
    steps = [
        ("ingest", raw, "a", ["--rows-per-shard", "40"]),
        ("dedup", "a", "b", []),
        ("score", "b", "c", ["--heuristics", "gopher"]),
        ("filter", "c", "d", [f"--rule={k}={v}" for k, v in RULES.items()]),
        ("augment", "d", "e", ["--op", "typo", "--rate", "0.05", "--fraction", "0.3", "--max-synthetic-fraction", "0.2"]),
        ("export", "e", "out", ["--validation", "0.1", "--rows-per-shard", "60"]),
    ]
    chain = tmp_path / "chain"
    for command, src, out, flags in steps:
        source = src if isinstance(src, Path) else chain / src
        result = cli(command, source, "-o", chain / out, *flags, "-w", "1", "-q")
        assert result.exit_code == 0, (command, result.output)
    config = write_config(
        tmp_path,
        {
            "input": {"paths": [str(raw)], "rows_per_shard": 40},
            "workdir": str(tmp_path / "work"),
            "output": {"path": str(tmp_path / "single"), "split": {"validation": 0.1}, "rows_per_shard": 60},
            "engine": {"workers": 1},
            "stages": [
                {"kind": "exact_dedup"},
                {"kind": "minhash_dedup"},
                {"kind": "quality_score", "heuristics": ["gopher"]},
                {"kind": "filter", "rules": RULES},
                {"kind": "augment", "ops": [{"op": "typo", "rate": 0.05}], "fraction": 0.3, "max_synthetic_fraction": 0.2},
            ],
        },
    )
    run = cli("run", config, "-q")
    assert run.exit_code == 0, run.output
    chain_out = tmp_path / "chain" / "out"
    assert data_bytes(chain_out) == data_bytes(tmp_path / "single")
    assert data_bytes(chain_out)
    chained_rejects = pl.concat([read_rejected(tmp_path / "chain" / name) for name in "abcde"], how="diagonal_relaxed")
    assert decisions(chained_rejects) == decisions(read_rejected(tmp_path / "work"))
    assert {r for _, r in decisions(chained_rejects)} >= {"invalid_json", "exact_duplicate", "enough_words"}


def test_a_command_output_given_to_the_next_yields_only_its_kept_rows(cli: Any, tmp_path: Path) -> None:
    raw = raw_corpus(tmp_path)
    assert cli("dedup", raw, "-o", tmp_path / "d", "-w", "1", "-q").exit_code == 0
    kept = read_dir(tmp_path / "d")
    assert read_rejected(tmp_path / "d").height > 0
    exported = cli("export", tmp_path / "d", "-o", tmp_path / "out", "-w", "1", "-q")
    assert exported.exit_code == 0, exported.output
    out = read_dir(tmp_path / "out")
    assert out["id"].to_list() == kept["id"].to_list()
    assert not [c for c in out.columns if c.startswith("reject_") or c == "duplicate_of"]
    scored = cli("score", tmp_path / "d", "-o", tmp_path / "s", "--heuristics", "gopher", "-w", "1", "-q")
    assert scored.exit_code == 0, scored.output
    assert read_dir(tmp_path / "s")["id"].to_list() == kept["id"].to_list()
    manifest = json.loads((tmp_path / "s" / "_manifest.json").read_text())
    parent = json.loads((tmp_path / "d" / "_manifest.json").read_text())["curate_dataset"]
    assert manifest["lineage"][0]["run_id"] == parent["run_id"]
    assert manifest["lineage"][0]["fingerprint"] == parent["fingerprint"]
    assert manifest["steps"][0]["counts"]["docs_in"] == kept.height  # adopted as it is, nothing re-ingested


def test_a_long_document_of_a_curated_folder_survives_export(cli: Any, tmp_path: Path) -> None:
    """No re-ingest: a document over the default max_chars that an earlier step kept stays."""
    big = "word " * 300_000
    write_jsonl(tmp_path / "raw.jsonl", [{"text": big}, {"text": "a short one"}])
    assert cli("ingest", tmp_path / "raw.jsonl", "-o", tmp_path / "a", "--max-chars", "2000000", "-q").exit_code == 0
    assert cli("export", tmp_path / "a", "-o", tmp_path / "out", "-q").exit_code == 0
    assert read_dir(tmp_path / "out").height == 2


def project(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    raw = raw_corpus(tmp_path)
    cfg: dict[str, Any] = {
        "input": {"paths": [str(raw)], "rows_per_shard": 30},
        "workdir": str(tmp_path / "work"),
        "output": {"path": str(tmp_path / "out"), "split": {"validation": 0.05}, "rows_per_shard": 40, "overwrite": True},
        "engine": {"workers": 1},
        "stages": [{"kind": "exact_dedup"}, {"kind": "quality_score", "heuristics": ["gopher"]}, {"kind": "filter", "rules": {"long": "gopher_word_count >= 30"}}],
    }
    cfg.update(extra)
    return cfg


def run_cfg(tmp_path: Path, cfg: dict[str, Any], resume: bool = False) -> Any:
    return run_plan(build_plan(load_config(write_config(tmp_path, cfg)), resume=resume), SerialExecutor())


def accounted(tmp_path: Path) -> tuple[list[str], list[str]]:
    return sorted(read_dir(tmp_path / "out")["id"].to_list()), sorted(read_rejected(tmp_path / "work")["id"].to_list())


def change_filter(cfg: dict[str, Any]) -> None:
    cfg["stages"][2] = {"kind": "filter", "rules": {"long": "gopher_word_count >= 10"}}


def change_split(cfg: dict[str, Any]) -> None:
    cfg["output"]["split"] = {"validation": 0.2}


def change_stages(cfg: dict[str, Any]) -> None:
    cfg["stages"] = cfg["stages"][:1]


def change_seed(cfg: dict[str, Any]) -> None:
    cfg["seed"] = 9


@pytest.mark.parametrize("change", [change_filter, change_split, change_stages, change_seed])
def test_resume_after_a_config_change_equals_a_fresh_run(tmp_path: Path, change: Any) -> None:
    cfg = project(tmp_path / "a")
    run_cfg(tmp_path / "a", cfg)
    change(cfg)
    resumed = run_cfg(tmp_path / "a", cfg, resume=True)
    fresh_cfg = project(tmp_path / "b")
    change(fresh_cfg)
    fresh = run_cfg(tmp_path / "b", fresh_cfg)
    assert data_bytes(tmp_path / "a" / "out") == data_bytes(tmp_path / "b" / "out")
    assert accounted(tmp_path / "a") == accounted(tmp_path / "b")
    assert resumed.manifest["totals"] == fresh.manifest["totals"]
    published = json.loads((tmp_path / "a" / "out" / "_manifest.json").read_text())
    assert sum(published["splits"].values()) == len(accounted(tmp_path / "a")[0])


def test_resume_after_an_input_file_is_deleted_drops_its_documents(tmp_path: Path) -> None:
    cfg = project(tmp_path)
    first = run_cfg(tmp_path, cfg)
    (tmp_path / "raw" / "b.jsonl.gz").unlink()
    again = run_cfg(tmp_path, cfg, resume=True)
    assert again.steps[0].stats.docs_in < first.steps[0].stats.docs_in
    kept, rejected = accounted(tmp_path)
    assert len(kept) + len(rejected) == again.steps[0].stats.docs_in + again.manifest["totals"]["docs_added"]


def test_every_document_is_accounted_for_end_to_end(tmp_path: Path) -> None:
    report = run_cfg(tmp_path, project(tmp_path))
    kept, rejected = accounted(tmp_path)
    totals = report.manifest["totals"]
    assert totals["docs_in"] + totals["docs_added"] == len(kept) + len(rejected)
    assert len(set(kept) | set(rejected)) == len(kept) + len(rejected)


def test_the_serial_executor_runs_the_full_example_pipeline_to_the_pool_s_bytes(tmp_path: Path) -> None:
    """configs/full.yaml (every stage kind) in this process and in a pool of two workers."""
    config = Path(__file__).parents[1] / "configs" / "full.yaml"
    for name, executor in (("serial", SerialExecutor()), ("pool", PoolExecutor(2))):
        cfg = load_config(config)
        cfg = cfg.model_copy(update={"workdir": str(tmp_path / name / "work"), "output": cfg.output.model_copy(update={"path": str(tmp_path / name / "out")})})
        run_plan(build_plan(cfg), executor)
    assert data_bytes(tmp_path / "serial" / "out") == data_bytes(tmp_path / "pool" / "out")
    assert len(data_bytes(tmp_path / "serial" / "out")) >= 2
    assert decisions(read_rejected(tmp_path / "serial" / "work")) == decisions(read_rejected(tmp_path / "pool" / "work"))


def test_a_model_file_is_part_of_the_step_fingerprint(tmp_path: Path) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(b"one model")
    cfg = project(tmp_path, stages=[{"kind": "quality_score", "heuristics": [], "fasttext": [{"name": "hq", "path": str(model)}]}])
    path = write_config(tmp_path, cfg)
    before = build_plan(load_config(path)).steps[1].fingerprint
    model.write_bytes(b"another one")  # same size, new content
    assert build_plan(load_config(path)).steps[1].fingerprint != before


def test_a_second_run_on_a_locked_workdir_is_refused_naming_the_holder(tmp_path: Path) -> None:
    cfg = project(tmp_path)
    with FolderLock(tmp_path / "work"), pytest.raises(CurateError, match=r"in use by another curate run \(pid \d+"):
        run_cfg(tmp_path, cfg)
    run_cfg(tmp_path, cfg)  # released: the next run goes


def test_duplicate_ids_keep_the_first_and_reject_the_rest(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "raw" / "a.jsonl", [{"id": "x", "text": "first"}, {"id": "y", "text": "other"}])
    write_jsonl(tmp_path / "raw" / "b.jsonl", [{"id": "x", "text": "second"}, {"id": "x", "text": "third"}])
    cfg = {"input": {"paths": [str(tmp_path / "raw")]}, "workdir": str(tmp_path / "work"), "engine": {"workers": 1}}
    report = run_cfg(tmp_path, cfg)
    kept = read_dir(tmp_path / "work" / "00_ingest")
    assert sorted(zip(kept["id"], kept["text"], strict=True)) == [("x", "first"), ("y", "other")]
    rejected = read_rejected(tmp_path / "work")
    assert rejected["reject_reason"].to_list() == ["duplicate_id", "duplicate_id"]
    assert all("a.jsonl" in d for d in rejected["reject_detail"])
    assert report.steps[0].stats.balanced()
    cfg["input"]["strict"] = True
    with pytest.raises(InputError, match="duplicate id 'x'"):
        run_cfg(tmp_path, cfg)


def test_a_failed_publish_leaves_the_previous_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    cfg = project(tmp_path)
    run_cfg(tmp_path, cfg)
    before = data_bytes(tmp_path / "out")
    card = (tmp_path / "out" / "README.md").read_text()

    def disk_full(*args: Any, **kwargs: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out" / "x"))

    monkeypatch.setattr("curate.runner.write_file", disk_full)
    cfg["output"]["split"] = {"validation": 0.3}
    with pytest.raises(CurateError, match="no space left"):
        run_cfg(tmp_path, cfg)
    assert data_bytes(tmp_path / "out") == before
    assert (tmp_path / "out" / "README.md").read_text() == card
    assert not list(tmp_path.glob(".out.*"))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c, t: c["output"].update(path=str(t / "raw")), "holds the input"),
        (lambda c, t: c.update(workdir=str(t / "out" / "work")), "workdir .* is inside the output"),
    ],
)
def test_outputs_overlapping_inputs_or_the_workdir_are_refused_at_validate(tmp_path: Path, edit: Any, message: str) -> None:
    cfg = project(tmp_path)
    edit(cfg, tmp_path)
    with pytest.raises(ConfigError, match=message):
        build_plan(load_config(write_config(tmp_path, cfg)))


def test_index_rerun_and_failed_run_leave_the_index_consistent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = tmp_path / "idx"
    cfg = project(tmp_path, stages=[{"kind": "minhash_dedup", "index": str(index)}])
    first = run_cfg(tmp_path, cfg)
    parts = json.loads((index / "_index.json").read_text())["parts"]
    assert parts[0]["run_id"] == first.manifest["run_id"]
    before = (index / "_index.json").read_bytes()

    def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("export broke")

    monkeypatch.setattr("curate.runner.write_file", broken)
    (tmp_path / "raw" / "c.jsonl").write_text('{"text": "a brand new document for the index"}\n')
    with pytest.raises(RuntimeError):
        run_cfg(tmp_path, cfg)
    assert (index / "_index.json").read_bytes() == before  # the failed run committed nothing


def test_a_full_disk_when_the_index_is_committed_is_a_clear_error_and_the_index_stays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import polars as pl

    index = tmp_path / "idx"
    cfg = project(tmp_path, stages=[{"kind": "minhash_dedup", "index": str(index)}])
    run_cfg(tmp_path, cfg)
    before = (index / "_index.json").read_bytes()
    real = pl.DataFrame.write_parquet

    def full(self: pl.DataFrame, file: Any, *args: Any, **kwargs: Any) -> None:
        if Path(file).parent == index:
            raise pl.exceptions.ComputeError("parquet: underlying IO error: No space left on device (os error 28)")
        real(self, file, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full)
    (tmp_path / "raw" / "c.jsonl").write_text('{"text": "a brand new document for the index"}\n')
    with pytest.raises(CurateError, match="no space left"):
        run_cfg(tmp_path, cfg)
    assert (index / "_index.json").read_bytes() == before
    assert not [p for p in index.iterdir() if ".tmp-" in p.name]


def test_a_stage_whose_kind_disagrees_with_its_config_is_refused_when_defined() -> None:
    from typing import ClassVar, Literal

    from curate.stages.base import MapStage, StageConfig

    class ShoutConfig(StageConfig):
        kind: Literal["shout"] = "shout"

    with pytest.raises(TypeError, match="kind 'whisper' differs from its config's kind literal 'shout'"):

        class Whisper(MapStage):
            kind: ClassVar[str] = "whisper"
            Config: ClassVar[type[StageConfig]] = ShoutConfig


def test_a_fused_chain_reports_each_stage_s_own_time(tmp_path: Path) -> None:
    cfg = project(tmp_path, stages=[{"kind": "quality_score", "heuristics": ["gopher"]}, {"kind": "filter", "rules": {"long": "gopher_word_count >= 30"}}])
    report = run_cfg(tmp_path, cfg)
    score, filt = report.steps[1], report.steps[2]
    assert score.wall_seconds > 0 and filt.wall_seconds > 0
    assert score.wall_seconds != filt.wall_seconds
    manifest = json.loads((tmp_path / "work" / "01_quality_score" / "_manifest.json").read_text())
    assert manifest["counts"]["cpu_seconds"] > 0


def test_a_damaged_shard_found_on_resume_is_a_clear_error(cli: Any, tmp_path: Path) -> None:
    cfg = project(tmp_path, output=None)
    cfg["stages"] = cfg["stages"][:1]
    path = write_config(tmp_path, cfg)
    assert cli("run", path, "--until", "ingest", "-q").exit_code == 0
    shard = sorted((tmp_path / "work" / "00_ingest").glob("part-*.parquet"))[0]
    shard.write_bytes(shard.read_bytes()[:40])
    result = cli("run", path, "--resume", "-q")
    assert result.exit_code == 1
    assert f"{shard}: a shard of an earlier step is damaged" in result.stderr
    assert "Traceback" not in result.output


def test_a_plain_folder_walk_skips_rejected_sets_and_sidecars(tmp_path: Path) -> None:
    """A folder without a curate manifest (an interrupted step folder, say) is user files, but its
    rejected/ set, `_keys/` and hidden files are never input."""
    from curate.config import InputConfig
    from curate.io.discovery import plan_read_tasks

    for rel in ["part-0.parquet", "rejected/part-0.parquet", "_keys/part-0.parquet", ".tmp/part-0.parquet", "sub/part-1.parquet"]:
        (tmp_path / "d" / rel).parent.mkdir(parents=True, exist_ok=True)
        pl.DataFrame({"text": ["x"]}).write_parquet(tmp_path / "d" / rel)
    tasks = plan_read_tasks(InputConfig(sources=[{"paths": [str(tmp_path / "d")]}]))
    assert sorted(f.relpath for t in tasks for f in t.files) == ["part-0.parquet", "sub/part-1.parquet"]


@pytest.mark.parametrize(("key", "value", "message"), [("output", "raw/out", "is inside the input folder"), ("workdir", "raw/work", "workdir: .* is inside the input folder")])
def test_outputs_and_workdirs_inside_an_input_folder_are_refused(tmp_path: Path, key: str, value: str, message: str) -> None:
    cfg = project(tmp_path)
    if key == "output":
        cfg["output"]["path"] = str(tmp_path / value)
    else:
        cfg["workdir"] = str(tmp_path / value)
    with pytest.raises(ConfigError, match=message):
        build_plan(load_config(write_config(tmp_path, cfg)))


def test_a_resume_after_a_crash_in_export_reuses_its_staged_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that stopped after staging its release (the data files and the rejected sets linked
    into the staging folder) resumes into that folder: the links it finds are kept or replaced,
    and the release is the one an uninterrupted run publishes."""
    cfg = project(tmp_path / "a", output={**project(tmp_path / "a")["output"], "rejected": True})
    fresh_cfg = project(tmp_path / "b", output={**project(tmp_path / "b")["output"], "rejected": True})
    run_cfg(tmp_path / "b", fresh_cfg)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed while writing the manifest")

    with monkeypatch.context() as patch:  # after the rejected sets are linked into the staging folder
        patch.setattr("curate.runner.token_totals", crash)
        with pytest.raises(RuntimeError, match="killed"):
            run_cfg(tmp_path / "a", cfg)
    staged = tmp_path / "a" / ".out.curate-staging"
    assert list((staged / "_rejected").glob("*.parquet"))  # what the stopped run had linked
    run_cfg(tmp_path / "a", cfg, resume=True)
    assert not staged.exists()
    assert data_bytes(tmp_path / "a" / "out") == data_bytes(tmp_path / "b" / "out")
    rejected = sorted(p.name for p in (tmp_path / "a" / "out" / "_rejected").glob("*.parquet"))
    assert rejected == sorted(p.name for p in (tmp_path / "b" / "out" / "_rejected").glob("*.parquet"))
    for name in rejected:
        assert (tmp_path / "a" / "out" / "_rejected" / name).read_bytes() == (tmp_path / "b" / "out" / "_rejected" / name).read_bytes()
