"""Plan-time schema checks: the input's columns and types from headers, each stage checked against
the schema of its input, and the columns stages declare."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest

from curate.config import parse_config
from curate.errors import ConfigError
from curate.io.discovery import plan_read_tasks
from curate.schema_check import check_stage_columns, probe_input_schema, schema_after
from curate.stages import build_stage
from curate.stages.augment import Augment, AugmentConfig
from curate.stages.exact_dedup import ExactDedup, ExactDedupConfig
from curate.stages.filter import Filter, FilterConfig
from curate.stages.minhash_dedup import MinhashDedup, MinhashDedupConfig
from curate.stages.quality_score import QualityScore, QualityScoreConfig

CORE = {"id": pl.String(), "text": pl.String(), "source": pl.String()}


def jsonl(path: Path, *records: dict[str, Any]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def probe(tmp_path: Path, paths: list[Path], **source: Any) -> dict[str, pl.DataType | None] | None:
    cfg = parse_config({"input": {"paths": [str(p) for p in paths], **source}, "workdir": str(tmp_path / "w")})
    assert cfg.input is not None
    return probe_input_schema(plan_read_tasks(cfg.input), cfg.input.sources)


# ---------------------------------------------------------------- probing the input


def test_json_lines_types_come_from_the_first_record(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b"\n" + orjson.dumps({"text": "a", "m": 3, "f": 0.5, "ok": True, "lang": "en", "n": None,
                                           "tags": ["x"], "day": "2024-01-31"}) + b"\n")
    assert probe(tmp_path, [path]) == {
        **CORE, "m": pl.Int64(), "f": pl.Float64(), "ok": pl.Boolean(), "lang": pl.String(),
        "n": None, "tags": None, "day": None,
    }


def test_ingest_renames_are_applied(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "d.jsonl", {"body": "a", "key": 7, "text": "old", "source": "s", "m": 1})
    got = probe(tmp_path, [path], text_field="body", id_field="key", source="web")
    assert got == {**CORE, "orig_text": pl.String(), "orig_source": pl.String(), "m": pl.Int64()}


def test_parquet_types_come_from_its_schema(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    pl.DataFrame({"text": ["a"], "score": pl.Series([1.5], dtype=pl.Float32), "n": pl.Series([1], dtype=pl.UInt8)}).write_parquet(path)
    assert probe(tmp_path, [path]) == {**CORE, "score": pl.Float32(), "n": pl.UInt8()}


def test_txt_gives_text_and_path(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello")
    assert probe(tmp_path, [tmp_path / "a.txt"]) == {**CORE, "path": pl.String()}


def test_files_that_disagree_on_a_type_leave_it_unknown(tmp_path: Path) -> None:
    a = jsonl(tmp_path / "a.jsonl", {"text": "a", "m": 1, "k": "x"})
    b = jsonl(tmp_path / "b.jsonl", {"text": "b", "m": "one", "k": "y", "extra": True})
    assert probe(tmp_path, [a, b]) == {**CORE, "m": None, "k": pl.String(), "extra": pl.Boolean()}


def test_formats_without_a_cheap_header_give_none(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("text,m\na,1\n")
    assert probe(tmp_path, [tmp_path / "d.csv"]) is None
    with gzip.open(tmp_path / "d.jsonl.gz", "wb") as fh:
        fh.write(b'{"text": "a"}\n')
    assert probe(tmp_path, [tmp_path / "d.jsonl.gz"]) is None


# ---------------------------------------------------------------- declared outputs


def test_quality_score_declares_float_signals_and_string_lang() -> None:
    stage = QualityScore(QualityScoreConfig(heuristics=["c4"], langid=True))
    schema = stage.added_schema()
    assert schema["c4_sentence_count"] == pl.Float64 and schema["lang_score"] == pl.Float64
    assert schema["lang"] == pl.String
    assert set(schema) == stage.added_columns()


def test_minhash_declares_cluster_columns_and_exact_dedup_adds_none() -> None:
    assert MinhashDedup(MinhashDedupConfig()).added_schema() == {"dup_cluster": pl.String(), "dup_cluster_size": pl.Int64()}
    assert ExactDedup(ExactDedupConfig()).added_schema() == {}
    assert Filter(FilterConfig(rules={"r": "x > 1"})).added_schema() == {}


def test_by_default_added_columns_have_unknown_types() -> None:
    stage = Augment(AugmentConfig(ops=[{"op": "typo"}]))
    assert stage.added_schema() == dict.fromkeys(stage.added_columns())


def test_schema_after_adds_the_declared_columns() -> None:
    out = schema_after(MinhashDedup(MinhashDedupConfig()), CORE)
    assert out == {**CORE, "dup_cluster": pl.String(), "dup_cluster_size": pl.Int64()}


# ---------------------------------------------------------------- checking stages


def test_keep_highest_must_name_a_known_column() -> None:
    with pytest.raises(ConfigError) as err:
        check_stage_columns(0, ExactDedup(ExactDedupConfig(keep="highest:nosuch")), CORE)
    assert err.value.message == "stages[0].exact_dedup.keep: highest:nosuch: no such column; known columns: id, source, text"
    assert err.value.exit_code == 2


def test_keep_highest_must_name_a_number() -> None:
    with pytest.raises(ConfigError) as err:
        check_stage_columns(1, MinhashDedup(MinhashDedupConfig(keep="highest:lang")), {**CORE, "lang": pl.String()})
    assert err.value.message == "stages[1].minhash_dedup.keep: highest:lang: column lang is String, not a number"


@pytest.mark.parametrize("dtype", [pl.Float64(), pl.Int32(), pl.Boolean(), None])
def test_keep_highest_accepts_numbers_and_unknown_types(dtype: pl.DataType | None) -> None:
    check_stage_columns(0, ExactDedup(ExactDedupConfig(keep="highest:score")), {**CORE, "score": dtype})


def test_rule_comparing_an_int_column_with_a_string() -> None:
    stage = Filter(FilterConfig(rules={"r": "m == 'x'"}))
    with pytest.raises(ConfigError) as err:
        check_stage_columns(3, stage, {**CORE, "m": pl.Int64()})
    assert err.value.message == "stages[3].filter.rules.r: column m is Int64, compared with a string"


def test_rule_on_a_missing_column_names_stage_and_rule() -> None:
    with pytest.raises(ConfigError) as err:
        check_stage_columns(2, Filter(FilterConfig(rules={"r": "nope > 1"})), CORE)
    assert err.value.message.startswith("stages[2].filter.rules.r: unknown column 'nope' at position 1")
    assert err.value.hint == "known columns: id, source, text"


def test_other_required_columns_are_checked_too() -> None:
    with pytest.raises(ConfigError) as err:
        check_stage_columns(0, QualityScore(QualityScoreConfig()), {"id": pl.String()})
    assert err.value.message == "stages[0] (quality_score) needs column(s) text, which no earlier step produces; known columns: id"


# ---------------------------------------------------------------- a whole config, as the planner will


def check_config(raw: dict[str, Any]) -> dict[str, pl.DataType | None] | None:
    """What build_plan does with these functions: probe the input, then check and extend per stage."""
    cfg = parse_config(raw)
    assert cfg.input is not None
    schema = probe_input_schema(plan_read_tasks(cfg.input), cfg.input.sources)
    for i, stage_cfg in enumerate(cfg.stages):
        stage = build_stage(stage_cfg)
        if schema is not None:
            check_stage_columns(i, stage, schema)
            schema = schema_after(stage, schema)
    return schema


def test_a_valid_config_ends_with_every_declared_column(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "d.jsonl", {"text": "a", "m": 3})
    schema = check_config({"input": {"paths": [str(path)]}, "stages": [
        {"kind": "quality_score", "heuristics": ["c4"]},
        {"kind": "filter", "rules": {"r": "c4_sentence_count >= 5 and m > 1"}},
        {"kind": "minhash_dedup", "keep": "highest:c4_kept_lines_frac"},
        {"kind": "filter", "rules": {"big": "dup_cluster_size < 10 and dup_cluster != 'x'"}},
    ]})
    assert schema is not None and schema["dup_cluster_size"] == pl.Int64 and schema["m"] == pl.Int64


def test_config_with_a_type_mismatch_fails_at_its_stage(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "d.jsonl", {"text": "a", "m": 3})
    raw = {"input": {"paths": [str(path)]}, "stages": [
        {"kind": "quality_score", "heuristics": ["c4"]},
        {"kind": "filter", "rules": {"ok": "c4_sentence_count >= 5"}},
        {"kind": "exact_dedup"},
        {"kind": "filter", "rules": {"r": "m == 'x'"}},
    ]}
    with pytest.raises(ConfigError) as err:
        check_config(raw)
    assert err.value.message == "stages[3].filter.rules.r: column m is Int64, compared with a string"


def test_config_with_keep_on_a_missing_column(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "d.jsonl", {"text": "a", "m": 3})
    with pytest.raises(ConfigError) as err:
        check_config({"input": {"paths": [str(path)]}, "stages": [{"kind": "exact_dedup", "keep": "highest:nosuch"}]})
    assert err.value.message == "stages[0].exact_dedup.keep: highest:nosuch: no such column; known columns: id, m, source, text"


def test_a_column_an_earlier_stage_adds_is_known_to_later_ones(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "d.jsonl", {"text": "a"})
    raw = {"input": {"paths": [str(path)]}, "stages": [{"kind": "filter", "rules": {"r": "dup_cluster_size > 1"}},
                                                       {"kind": "minhash_dedup"}]}
    with pytest.raises(ConfigError, match=r"stages\[0\]\.filter\.rules\.r: unknown column 'dup_cluster_size'"):
        check_config(raw)
    check_config({**raw, "stages": raw["stages"][::-1]})


def test_a_text_or_id_field_a_parquet_input_lacks_is_a_config_error(cli, tmp_path: Path) -> None:
    """Otherwise every record would be rejected as missing_text (or missing_id) with exit 0."""
    src = tmp_path / "in.parquet"
    pl.DataFrame({"id": ["1"], "text": ["a b"], "body": ["c d"]}).write_parquet(src)
    for flag, name in (("--text-field", "content"), ("--id-field", "doc_id")):
        result = cli("ingest", src, "-o", tmp_path / f"out{flag}", flag, name, "-q")
        assert result.exit_code == 2, result.output
        assert f"no column {name!r} in {src} (columns: id, text, body)" in result.output
    assert cli("ingest", src, "-o", tmp_path / "ok", "--text-field", "body", "-q").exit_code == 0
