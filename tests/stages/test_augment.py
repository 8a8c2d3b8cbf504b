"""The augment stage: provenance, originals unchanged, an exact cap, shard invariance, pairs, LLM rows;
no secret in configs, messages or files; a failure threshold on LLM requests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from pydantic import ValidationError

from curate.config import parse_config
from curate.errors import ConfigError, StageError
from curate.runner import run_stage_frames
from curate.stages.augment import Augment, AugmentConfig
from curate.stages.base import REJECT, StageContext

sys.path.insert(0, str(Path(__file__).parents[1] / "augment"))
from chat_server import ChatServer  # noqa: E402

SEED = 7


def frame(n: int, synthetic_every: int = 0) -> pl.DataFrame:
    rows = {
        "id": [f"d{i:03d}" for i in range(n)],
        "text": [
            f"Document number {i} talks about data. It has two sentences!" if i % 9 != 8 else None
            for i in range(n)
        ],
        "meta": list(range(n)),
    }
    df = pl.DataFrame(rows)
    if synthetic_every:
        df = df.with_columns((pl.col("meta") % synthetic_every == 0).alias("is_synthetic"))
    return df


def run_stage(
    stage: Augment, shards: list[pl.DataFrame], stage_index: int = 1
) -> tuple[pl.DataFrame, StageContext]:
    """keys per shard -> one resolve -> apply per shard, through the runner's own units (rows in shard order)."""
    import tempfile

    ctx = StageContext(SEED, stage_index, "augment")
    with tempfile.TemporaryDirectory() as tmp:
        rows, _ = run_stage_frames(stage, shards, Path(tmp), seed=SEED, stage_index=stage_index, counters=ctx.counters, sort=False)
    if REJECT in rows.columns and rows[REJECT].null_count() == rows.height:
        rows = rows.drop(REJECT)
    return rows, ctx


def stage(**kw: object) -> Augment:
    cfg = {"ops": [{"op": "typo", "rate": 0.1}], "fraction": 0.5, "max_synthetic_fraction": 0.2}
    cfg.update(kw)
    return Augment(AugmentConfig.model_validate(cfg))


def test_provenance_and_originals_unchanged() -> None:
    df = frame(40)
    out, ctx = run_stage(stage(), [df])
    originals = out.filter(~pl.col("is_synthetic"))
    assert_frame_equal(originals.select(df.columns), df)
    assert originals["origin_id"].null_count() == originals.height
    new = out.filter(pl.col("is_synthetic"))
    assert new.height > 0
    assert new["id"].is_unique().all() and not new["id"].is_in(df["id"].implode()).any()
    assert (new["id"] == new["origin_id"] + "~a1.0").all()
    assert set(new["augmentation"]) == {"typo"}
    src = df.join(
        new.select("origin_id", pl.col("meta").alias("m2")), left_on="id", right_on="origin_id"
    )
    assert (src["meta"] == src["m2"]).all()  # other columns are copied from the source
    assert new["text"].null_count() == 0  # null texts are never sources
    assert ctx.counters["synthetic_added"] == new.height == ctx.counters["source_rows"]
    assert ctx.counters["synthetic_rows"] == new.height


def test_cap_is_exact_and_counted() -> None:
    out, ctx = run_stage(stage(fraction=1.0, max_synthetic_fraction=0.2), [frame(100)])
    synthetic = int(out["is_synthetic"].sum())
    assert synthetic == 25 and synthetic / out.height == pytest.approx(0.2)
    assert ctx.counters["augment_capped"] == ctx.counters["augment_candidates"] - 25


def test_each_mode_and_rows_per_source() -> None:
    st_ = stage(
        ops=[{"op": "typo", "rate": 0.1}, {"op": "casing", "rate": 0.5}], mode="each", fraction=1.0
    )
    out, _ = run_stage(st_, [frame(50)])
    new = out.filter(pl.col("is_synthetic"))
    assert new.group_by("origin_id").len()["len"].unique().to_list() == [2]
    assert set(new["augmentation"]) == {"typo", "casing"}
    assert new.height / out.height <= 0.2


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(0, 60),
    fraction=st.floats(0.0, 1.0),
    cap=st.floats(0.0, 0.95),
    n_ops=st.integers(1, 3),
    synthetic_every=st.sampled_from([0, 2, 5]),
    cuts=st.lists(st.integers(0, 60), max_size=3),
)
def test_cap_and_shard_invariance(
    n: int, fraction: float, cap: float, n_ops: int, synthetic_every: int, cuts: list[int]
) -> None:
    ops = [{"op": op, "rate": 0.2} for op in ("typo", "word_swap", "ocr")[:n_ops]]
    st_ = stage(ops=ops, mode="each", fraction=fraction, max_synthetic_fraction=cap)
    df = frame(n, synthetic_every)
    whole, _ = run_stage(st_, [df])
    bounds = sorted({0, n, *(min(c, n) for c in cuts)})
    shards = [df.slice(a, b - a) for a, b in zip(bounds, bounds[1:], strict=False)] or [df]
    parts, _ = run_stage(st_, shards)
    assert_frame_equal(whole.sort("id"), parts.sort("id"))
    added = whole.height - n
    if added:
        assert whole["is_synthetic"].sum() / whole.height <= cap + 1e-12
    assert (
        whole.filter(pl.col("is_synthetic") & pl.col("origin_id").is_not_null())["origin_id"]
        .is_in(
            df.filter(~pl.col("is_synthetic") if synthetic_every else pl.lit(True))["id"].implode()
        )
        .all()
    )


def test_synthetic_rows_are_never_sources() -> None:
    first, _ = run_stage(stage(fraction=1.0, max_synthetic_fraction=0.3), [frame(60)])
    second, ctx = run_stage(stage(fraction=1.0, max_synthetic_fraction=0.6), [first], stage_index=2)
    synthetic_first = set(first.filter(pl.col("is_synthetic"))["id"])
    new = second.filter(pl.col("id").str.contains("~a2."))
    assert new.height > 0
    assert not set(new["origin_id"]) & synthetic_first
    assert_frame_equal(second.head(first.height), first)
    assert second["is_synthetic"].sum() / second.height <= 0.6
    assert ctx.counters["synthetic_rows"] == second["is_synthetic"].sum()


def test_existing_synthetic_share_above_cap_adds_nothing() -> None:
    df = frame(20, synthetic_every=2)  # half synthetic
    out, ctx = run_stage(stage(fraction=1.0, max_synthetic_fraction=0.2), [df])
    assert out.height == 20 and ctx.counters["synthetic_added"] == 0


def test_deterministic_across_runs_and_seeds_matter() -> None:
    a, _ = run_stage(stage(), [frame(30)])
    b, _ = run_stage(stage(), [frame(30)])
    assert_frame_equal(a, b)
    ctx = StageContext(SEED + 1, 1, "augment")
    s = stage()
    other = s.apply(frame(30), s.resolve(s.keys(frame(30), ctx).lazy(), ctx), ctx)
    assert not other.equals(a)


def test_empty_input() -> None:
    df = frame(0)
    out, ctx = run_stage(stage(), [df])
    assert out.height == 0 and {"origin_id", "augmentation", "is_synthetic"} <= set(out.columns)


def test_correction_pairs() -> None:
    out, _ = run_stage(stage(pairs="correction", fraction=1.0), [frame(30)])
    new = out.filter(pl.col("is_synthetic"))
    joined = new.join(
        out.select("id", pl.col("text").alias("orig")), left_on="origin_id", right_on="id"
    )
    assert (joined["clean"] == joined["orig"]).all()
    assert out.filter(~pl.col("is_synthetic"))["clean"].null_count() == 30


def test_preference_pairs_are_graded() -> None:
    st_ = stage(pairs="preference", levels=[1.0, 3.0], fraction=1.0, max_synthetic_fraction=0.5)
    out, _ = run_stage(st_, [frame(20)])
    new = out.filter(pl.col("is_synthetic"))
    assert sorted(set(new["degradation"])) == [1, 2]
    assert set(new["augmentation"]) == {"typo@1", "typo@3"}
    assert new.group_by("origin_id").len()["len"].unique().to_list() == [2]
    joined = new.join(
        out.select("id", pl.col("text").alias("orig")), left_on="origin_id", right_on="id"
    )
    assert (joined["chosen"] == joined["orig"]).all()


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"ops": []}, "at least one operator"),
        ({"ops": [{"op": "typos", "rate": 0.1}]}, "typo"),
        ({"ops": [{"op": "typo", "rate": 0.0}]}, "greater than 0"),
        ({"ops": [{"op": "typo"}], "max_synthetic_fraction": 1.0}, "less than 1"),
        ({"ops": [{"op": "typo"}], "pairs": "preference", "mode": "each"}, "chain"),
        ({"ops": [{"op": "typo"}], "levels": [1.0, 1.0]}, "distinct"),
        ({"pairs": "correction", "llm": {"base_url": "http://x", "model": "m"}}, "needs operators"),
        ({"llm": {"base_url": "http://x", "model": "m", "prompt": "{text!r}"}}, "plain column"),
        ({"ops": [{"op": "typo"}], "rates": 1}, "Extra inputs"),
    ],
)
def test_invalid_configs(cfg: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AugmentConfig.model_validate(cfg)


def test_required_and_added_columns() -> None:
    s = stage(
        field="response",
        pairs="preference",
        llm={"base_url": "http://x", "model": "m", "prompt": "{instruction}"},
    )
    assert s.required_columns() == {"id", "response", "instruction"}
    assert s.added_columns() == {
        "origin_id",
        "augmentation",
        "is_synthetic",
        "chosen",
        "rejected",
        "degradation",
    }
    assert stage().rows_per_source == 1


@pytest.mark.timeout(30)
def test_llm_rows_through_a_real_server(tmp_path: Path) -> None:
    df = frame(40).with_columns(pl.format("title {}", pl.col("meta")).alias("title"))
    llm = {
        "base_url": "",
        "model": "tiny-chat",
        "prompt": "{title}: {text}",
        "concurrency": 4,
        "max_retries": 1,
        "backoff_s": 0.0,
        "cache_path": str(tmp_path / "cache.sqlite"),
    }
    with ChatServer(per_prompt=lambda p: "500" if p.startswith("title 3:") else None) as srv:
        llm["base_url"] = srv.url
        s = stage(ops=[], llm=llm, fraction=1.0, max_synthetic_fraction=0.5)
        out, ctx = run_stage(s, [df.head(20), df.tail(20)])
        paid = srv.requests
        again, _ = run_stage(s, [df])
    new = out.filter(pl.col("is_synthetic"))
    assert set(new["augmentation"]) == {"tiny-chat"}
    row = new.filter(pl.col("origin_id") == "d001").row(0, named=True)
    assert row["text"] == "SYN[title 1: Document number 1 talks about data. It has two sentences!]"
    assert "d003" not in set(new["origin_id"])  # failed after retries: dropped and counted
    assert ctx.counters["llm_failed_rows"] == 1 and ctx.counters["synthetic_added"] == new.height
    assert ctx.counters["llm_error_http_500"] == 1 and ctx.counters["llm_requests_failed"] == 1
    assert srv.requests == paid + 2  # the rerun only retries the failing prompt
    assert_frame_equal(out.sort("id"), again.sort("id"))


def test_engine_steps_keep_the_row_invariant(tmp_path: Path) -> None:
    from curate.engines.base import ChainLink, apply_task, keys_task, resolve_global

    src = tmp_path / "in"
    src.mkdir()
    df = frame(45)
    names = []
    for i in range(3):
        name = f"part-{i:05d}"
        df.slice(15 * i, 15).write_parquet(src / f"{name}.parquet")
        names.append(name)
    s = stage(fraction=1.0, max_synthetic_fraction=0.25)
    link = ChainLink(s, 1, tmp_path / "01_augment", src, "fp", SEED)
    for name in names:
        keys_task(name, link)
    resolve_global(link, names)
    total = None
    for name in names:
        st_ = apply_task(name, link)
        assert st_.balanced()
        total = st_ if total is None else total + st_
    assert total is not None
    out = pl.read_parquet(list((tmp_path / "01_augment").glob("part-*.parquet")))
    assert (
        total.docs_in == 45
        and total.docs_added == out.height - 45 == total.counters["synthetic_added"]
    )
    assert total.counters["synthetic_rows"] / total.docs_kept <= 0.25
    expected, _ = run_stage(s, [df])
    assert_frame_equal(out.sort("id"), expected.sort("id"))


def test_importing_the_stage_imports_no_http_client() -> None:
    # numba is a core dependency that other registered stages import; the HTTP client is not
    code = (
        "import sys, curate.stages.augment; "
        "bad = [m for m in ('httpx', 'httpx2', 'http.client') if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0
    )


# ---------------------------------------------------------------- secrets and failures

KEY = "sk-stage-SECRET-9876543210"


@pytest.mark.parametrize(
    ("llm", "path", "secret"),
    [
        ({"base_url": "https://user:hunter2@api.example.com/v1"}, "llm.base_url", "hunter2"),
        ({"base_url": "https://api.example.com/v1?api-key=" + KEY}, "llm.base_url", KEY),
        ({"base_url": "https://api.example.com/v1?v=1&Token=" + KEY}, "llm.base_url", KEY),
        ({"base_url": "https://" + KEY + "@api.example.com/v1"}, "llm.base_url", KEY),
        ({"cache_path": "https://cache.example.com/db?sig=" + KEY}, "llm.cache_path", KEY),
        ({"api_key_env": KEY}, "llm.api_key_env", KEY),
    ],
)
def test_credentials_in_the_config_are_refused_with_the_key_path(
    llm: dict[str, str], path: str, secret: str
) -> None:
    section = {"base_url": "https://api.example.com/v1", "model": "m", **llm}
    raw = {"input": {"paths": ["x.jsonl"]}, "stages": [{"kind": "augment", "llm": section}]}
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    msg = err.value.message
    assert f"stages[0].augment.{path}:" in msg and "api_key_env" in msg
    assert secret not in msg
    if path != "llm.api_key_env":
        assert "***" in msg and "api.example.com" in msg or "cache.example.com" in msg
    with pytest.raises(ValidationError) as verr:  # also without the CLI's formatter
        AugmentConfig.model_validate({"kind": "augment", "llm": section})
    assert secret not in str(verr.value) + repr(verr.value.errors())


def test_other_string_fields_holding_credential_urls_are_refused() -> None:
    with pytest.raises(ValidationError, match="field") as err:
        AugmentConfig.model_validate(
            {"ops": [{"op": "typo"}], "field": "https://u:" + KEY + "@h/x"}
        )
    assert KEY not in str(err.value)
    ok = AugmentConfig.model_validate(
        {"llm": {"base_url": "https://x.azure.com/openai?api-version=2024-02-01", "model": "m",
                 "api_key_env": "AZURE_OPENAI_KEY"}}
    )
    assert ok.llm is not None and ok.llm.max_failure_fraction == 0.1
    assert ok.llm.failure_min_requests == 20


@pytest.mark.parametrize(
    ("llm", "message"),
    [
        ({"max_failure_fraction": 1.5}, "less than or equal to 1"),
        ({"max_failure_fraction": -0.1}, "greater than or equal to 0"),
        ({"failure_min_requests": 0}, "greater than or equal to 1"),
    ],
)
def test_failure_threshold_bounds(llm: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AugmentConfig.model_validate({"llm": {"base_url": "http://x", "model": "m", **llm}})


def test_failure_threshold_is_not_in_the_fingerprint() -> None:
    base = {"base_url": "http://x", "model": "m"}
    a = stage(ops=[], llm=base).config_fingerprint()
    b = stage(ops=[], llm={**base, "max_failure_fraction": 0.5}).config_fingerprint()
    assert a == b


@pytest.mark.timeout(30)
def test_an_endpoint_failing_every_request_fails_the_stage(tmp_path: Path) -> None:
    llm = {"base_url": "", "model": "m", "max_retries": 1, "backoff_s": 0.0, "cache_path": None}
    with ChatServer(default="500") as srv:
        llm["base_url"] = srv.url
        s = stage(ops=[], llm=llm, fraction=1.0, max_synthetic_fraction=0.5)
        with pytest.raises(StageError) as err:
            run_stage(s, [frame(60)])
    msg = err.value.message
    assert msg.startswith("stages[0] (augment): ") and "llm requests failed after 1 retries" in msg
    assert "most common error" in msg and "HTTP 500" in msg


# ---------------------------------------------------------------- the CLI, end to end


def _project(tmp_path: Path, url: str, n: int = 30) -> Path:
    src = tmp_path / "in.jsonl"
    src.write_text(
        "".join(json.dumps({"text": f"Document {i} about data curation."}) + "\n" for i in range(n))
    )
    cfg = {
        "input": {"paths": [str(src)]},
        "workdir": str(tmp_path / "work"),
        "output": {"path": str(tmp_path / "out")},
        "engine": {"workers": 1},
        "stages": [
            {
                "kind": "augment",
                "fraction": 1.0,
                "max_synthetic_fraction": 0.5,
                "llm": {
                    "base_url": url,
                    "model": "tiny-chat",
                    "api_key_env": "CURATE_STAGE_KEY",
                    "max_retries": 1,
                    "backoff_s": 0.0,
                    "cache_path": str(tmp_path / "cache" / "llm.sqlite"),
                },
            }
        ],
    }
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def _curate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CURATE_STAGE_KEY": KEY}
    return subprocess.run(
        [sys.executable, "-m", "curate", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


def _files_holding(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.timeout(300)
def test_cli_a_failing_endpoint_that_echoes_headers_exits_1_with_a_summary(tmp_path: Path) -> None:
    with ChatServer(default="echo500") as srv:
        cfg = _project(tmp_path, srv.url)
        result = _curate(tmp_path, "run", str(cfg))
        debug = _curate(tmp_path, "run", str(cfg), "--debug")
    assert srv.auth_headers and all(h == f"Bearer {KEY}" for h in srv.auth_headers)
    assert result.returncode == 1, result.stderr
    assert "error: stages[0] (augment): " in result.stderr
    # 30 prompts: more than 10 % failing is certain after 4 failures, so it stops early
    summary = re.search(
        r"(\d+) of (\d+) llm requests failed after 1 retries \(stopped early, (\d+) not sent\)"
        r", more than llm.max_failure_fraction=0.1; most common error \((\d+) of (\d+)\): HTTP 500",
        result.stderr,
    )
    assert summary is not None, result.stderr
    failed, done, unsent, common, of = map(int, summary.groups())
    assert failed == done == common == of >= 4 and done + unsent == 30
    assert "hint: " in result.stderr and "WARNING" not in result.stderr  # no warning per row
    assert "Traceback" not in result.stderr
    assert debug.returncode != 0 and "StageError" in debug.stderr  # the traceback, scrubbed
    for out in (result, debug):
        assert KEY not in out.stdout + out.stderr and "SECRET" not in out.stderr
    assert _files_holding(tmp_path, KEY) == []


@pytest.mark.timeout(300)
def test_cli_a_working_endpoint_writes_the_key_nowhere(tmp_path: Path) -> None:
    # the server wants the key; one prompt gets an answer that quotes the request headers
    with ChatServer(api_key=KEY, per_prompt=lambda p: "echo" if "Document 7 " in p else None) as srv:
        cfg = _project(tmp_path, srv.url)
        result = _curate(tmp_path, "run", str(cfg))
    assert result.returncode == 0, result.stderr
    assert srv.seen["ok"] > 0 and srv.seen["401"] == 0  # the key was sent on every request
    assert KEY not in result.stdout + result.stderr
    out = pl.read_parquet(list((tmp_path / "out").rglob("*.parquet")))
    assert out["is_synthetic"].sum() == 30
    echoed = out.filter(pl.col("origin_id").is_not_null() & pl.col("text").str.contains("Bearer"))
    assert echoed.height <= 1 and all("Bearer ***" in t for t in echoed["text"])
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "llm.sqlite" for p in written) and any(p.name == "_run.json" for p in written)
    assert _files_holding(tmp_path, KEY) == []
