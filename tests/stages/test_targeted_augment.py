"""LLM2LLM rounds on a tiny arithmetic set: a fake student fails known items, a fake teacher
(a real local HTTP server) writes new examples; checks, lineage, the cap, cache and rounds."""

from __future__ import annotations

import json
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from pydantic import ValidationError

from curate.augment.targeted import correct_expr, parse_example, parse_verdict
from curate.runner import run_stage_frames
from curate.stages.targeted_augment import TargetedAugment, TargetedAugmentConfig

sys.path.insert(0, str(Path(__file__).parents[1] / "augment"))
from chat_server import ChatServer  # noqa: E402

pytestmark = pytest.mark.timeout(60)
WRONG = {"s02", "s05", "s07"}  # the items the fake student gets wrong


def seeds(n: int = 10) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [f"s{i:02d}" for i in range(n)],
            "prompt": [f"What is {i} + {i + 3}?" for i in range(n)],
            "response": [str(2 * i + 3) for i in range(n)],
            "text": [f"What is {i} + {i + 3}? {2 * i + 3}" for i in range(n)],
        }
    )


def predictions(df: pl.DataFrame, wrong: set[str], path: Path) -> Path:
    """The student's answers: right except on ``wrong`` (off by one, in a sentence)."""
    rows = [
        {
            "id": r["id"],
            "prompt": r["prompt"],
            "reference": r["response"],
            "prediction": f"The answer is {int(r['response']) + (1 if r['id'] in wrong else 0)}.",
        }
        for r in df.iter_rows(named=True)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def teacher(prompt: str) -> str:
    """A fake teacher: a new sum near the failed one, as JSON."""
    m = re.search(r"What is (\d+) \+ (\d+)\?", prompt)
    j = re.search(r"new example (\d+) of \d+ \(round (\d+)\)", prompt)
    if not m or not j:
        return "not json"
    a, b = int(m.group(1)) + 100 * int(j.group(1)) + 1000 * int(j.group(2)), int(m.group(2))
    return json.dumps({"prompt": f"What is {a} + {b}?", "response": str(a + b)})


def stage(path: Path, url: str, cache: Path | None = None, **kw: object) -> TargetedAugment:
    cfg: dict[str, object] = {
        "predictions": str(path),
        "check": "numeric",
        "k": 2,
        "teacher": {
            "base_url": url,
            "model": "teacher-1",
            "cache_path": str(cache) if cache else None,
            "backoff_s": 0.0,
            "max_retries": 1,
        },
    }
    cfg.update(kw)
    return TargetedAugment(TargetedAugmentConfig.model_validate(cfg))


def run(s: TargetedAugment, shards: list[pl.DataFrame]) -> tuple[pl.DataFrame, Counter[str]]:
    counters: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows, _ = run_stage_frames(s, shards, Path(tmp), seed=5, counters=counters)
    return rows.drop("_reject"), counters


def test_round_one_adds_k_examples_per_failed_seed_with_lineage(tmp_path: Path) -> None:
    df = seeds()
    preds = predictions(df, WRONG, tmp_path / "preds.jsonl")
    with ChatServer(reply=teacher) as srv:
        out, counters = run(stage(preds, srv.url), [df.head(4), df.tail(6)])
    new = out.filter(pl.col("is_synthetic"))
    assert sorted(new["seed_id"].unique()) == sorted(WRONG)
    assert new.height == 6 and srv.requests == 6
    assert set(new["round"]) == {1} and set(new["teacher"]) == {"teacher-1"}
    assert sorted(new["id"]) == sorted(f"{s}~t1.{j}" for s in WRONG for j in (1, 2))
    for row in new.iter_rows(named=True):  # the teacher's examples, correct sums
        a, b = map(int, re.findall(r"\d+", row["prompt"]))
        assert (
            int(row["response"]) == a + b and row["text"] == f"{row['prompt']}\n\n{row['response']}"
        )
    originals = out.filter(~pl.col("is_synthetic"))
    assert originals.select(df.columns).sort("id").equals(df)
    assert counters["round_1_seeds_checked"] == 10 and counters["round_1_seeds_failed"] == 3
    assert counters["round_1_error_rate_bp"] == 3000 and counters["round_1_examples_added"] == 6


def test_round_two_never_uses_synthetic_rows_as_seeds(tmp_path: Path) -> None:
    df = seeds()
    with ChatServer(reply=teacher) as srv:
        one, _ = run(stage(predictions(df, WRONG, tmp_path / "p1.jsonl"), srv.url), [df])
        # round 2: the student now fails s05 and every round-1 example it is shown
        p2 = predictions(
            one, {"s05", *one.filter(pl.col("is_synthetic"))["id"]}, tmp_path / "p2.jsonl"
        )
        two, counters = run(stage(p2, srv.url, round=2), [one])
    new = two.filter(pl.col("round") == 2)
    assert set(new["seed_id"]) == {"s05"} and new.height == 2
    assert counters["predictions_on_synthetic"] == 6
    assert counters["round_2_seeds_failed"] == 1 and counters["round_2_error_rate_bp"] == 1000
    assert counters["round_1_examples"] == 6 and counters["round_2_examples_added"] == 2
    assert two.filter(pl.col("round") == 1).height == 6  # earlier rounds pass unchanged


def test_cap_limits_the_seeds_sent_to_the_teacher(tmp_path: Path) -> None:
    df = seeds()
    preds = predictions(df, {f"s{i:02d}" for i in range(10)}, tmp_path / "p.jsonl")
    with ChatServer(reply=teacher) as srv:
        out, counters = run(stage(preds, srv.url, max_synthetic_fraction=0.3), [df])
    synthetic = int(out["is_synthetic"].sum())
    assert synthetic / out.height <= 0.3 and synthetic == 4  # 2 seeds x k=2: 4/14
    assert counters["seeds_capped"] == 8 and srv.requests == 4


def test_a_rerun_pays_nothing_twice(tmp_path: Path) -> None:
    df = seeds()
    preds = predictions(df, WRONG, tmp_path / "p.jsonl")
    cache = tmp_path / "cache.sqlite"
    with ChatServer(reply=teacher) as srv:
        first, _ = run(stage(preds, srv.url, cache), [df])
        paid = srv.requests
        second, counters = run(stage(preds, srv.url, cache), [df])
    assert paid == 6 and srv.requests == 6 and counters["llm_cache_hits"] == 6
    assert first.sort("id").equals(second.sort("id"))


def test_unparsable_teacher_answers_are_dropped_and_counted(tmp_path: Path) -> None:
    df = seeds()
    preds = predictions(df, WRONG, tmp_path / "p.jsonl")
    with ChatServer(
        reply=lambda p: teacher(p) if "example 1 of" in p else "Sure! Here it is."
    ) as srv:
        out, counters = run(stage(preds, srv.url), [df])
    assert out["is_synthetic"].sum() == 3 and counters["teacher_unparsed"] == 3


def test_llm_judge_decides_which_seeds_failed(tmp_path: Path) -> None:
    df = seeds()
    preds = predictions(df, WRONG, tmp_path / "p.jsonl")

    def server(prompt: str) -> str:
        if prompt.startswith("Question:"):  # the judge: compare the last numbers
            ref = re.search(r"Reference answer: (\d+)", prompt)
            cand = re.findall(r"\d+", prompt.split("Candidate answer:")[1])
            assert ref is not None
            return json.dumps({"correct": cand[0] == ref.group(1)})
        return teacher(prompt)

    with ChatServer(reply=server) as srv:
        out, counters = run(stage(preds, srv.url, check="llm"), [df])
    assert sorted(out.filter(pl.col("is_synthetic"))["seed_id"].unique()) == sorted(WRONG)
    assert counters["judge_requests_ok"] == 10 and counters["round_1_seeds_failed"] == 3


@pytest.mark.parametrize(
    ("check", "kw", "pred", "ref", "ok"),
    [
        ("exact", {}, " Paris ", "paris", True),
        ("exact", {"case_sensitive": True}, "Paris", "paris", False),
        ("numeric", {"tolerance": 0.01}, "so it is 3.004 m", "3", True),
        ("numeric", {"tolerance": 0.001}, "so it is 3.004 m", "3", False),
        ("numeric", {"rel_tolerance": 0.1}, "about 1,050", "1000", True),
        ("numeric", {}, "no number", "3", False),
        ("regex", {"pattern": r"#### (\S+)"}, "work... #### 42", "#### 42", True),
        ("regex", {"pattern": r"#### (\S+)"}, "work... 42", "42", False),
        ("numeric", {"pattern": r"#### (.+)"}, "3 + 4 = 7 #### 7", "7", True),
    ],
)
def test_correctness_checks(
    check: str, kw: dict[str, object], pred: str, ref: str, ok: bool
) -> None:
    df = pl.DataFrame({"prediction": [pred, None], "reference": [ref, ref]})
    assert df.select(correct_expr(check, **kw))[:, 0].to_list() == [ok, False]  # type: ignore[arg-type]


def test_strict_parsers() -> None:
    assert parse_example('```json\n{"prompt": "q", "response": "a"}\n```') == ("q", "a")
    assert parse_example('Here: {"prompt": "q", "response": "a"}') is None
    assert parse_example('{"prompt": "", "response": "a"}') is None
    assert parse_verdict('{"correct": false}') is False
    assert parse_verdict('{"correct": "yes"}') is None


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"check": "regex"}, "needs a pattern"),
        ({"pattern": "#### .+"}, "needs a group"),
        ({"pattern": "(unclosed"}, "not a regular expression"),
        ({"k": 0}, "greater than or equal to 1"),
        ({"judge_prompt": "{question}"}, "allowed: {prompt}"),
        ({"field": "prompt"}, "different columns"),
    ],
)
def test_invalid_configs(cfg: dict[str, object], message: str) -> None:
    base: dict[str, object] = {
        "predictions": "p.jsonl",
        "teacher": {"base_url": "http://x", "model": "m"},
    }
    with pytest.raises(ValidationError, match=message):
        TargetedAugmentConfig.model_validate({**base, **cfg})


def test_predictions_without_the_columns_are_a_clear_error(tmp_path: Path) -> None:
    from curate.errors import InputError

    bad = tmp_path / "p.jsonl"
    bad.write_text('{"id": "s00", "answer": "3"}\n')
    with ChatServer() as srv, pytest.raises(Exception, match="lacks column") as info:
        run(stage(bad, srv.url), [seeds()])
    assert isinstance(info.value, InputError) or "lacks column" in str(info.value)


def test_cli_round_writes_the_key_nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from curate.cli import app

    key = "sk-test-TARGETED-0123456789abcdef"
    monkeypatch.setenv("TEACHER_KEY", key)
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "seeds.jsonl"
    seeds().write_ndjson(data)
    preds = predictions(seeds(), WRONG, tmp_path / "preds.jsonl")
    with ChatServer(reply=teacher, api_key=key) as srv:
        result = CliRunner().invoke(
            app,
            [
                "targeted-augment",
                str(data),
                "-o",
                "r1",
                "--predictions",
                str(preds),
                "--check",
                "numeric",
                "--base-url",
                srv.url,
                "--model",
                "teacher-1",
                "--api-key-env",
                "TEACHER_KEY",
                "-k",
                "2",
                "-q",
            ],
        )
    assert result.exit_code == 0, result.output
    out = pl.read_parquet(list((tmp_path / "r1").glob("*.parquet")))
    assert out["is_synthetic"].sum() == 6
    manifest = json.loads((tmp_path / "r1" / "_manifest.json").read_text())
    assert "round_1_error_rate_bp" in json.dumps(manifest)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in written)  # the cache was written, without the key
    for p in written:
        assert key.encode() not in p.read_bytes(), p
    assert key not in result.output


def test_copies_of_seeds_and_of_each_other_are_dropped(tmp_path: Path) -> None:
    df = seeds()
    preds = predictions(df, WRONG, tmp_path / "p.jsonl")

    def lazy(
        prompt: str,
    ) -> str:  # example 1 copies a seed (other case and spacing), 2 repeats itself
        j = re.search(r"new example (\d+) of", prompt)
        if j and j.group(1) == "1":
            return json.dumps({"prompt": "what is 0  +  3?", "response": "3"})
        return json.dumps({"prompt": "What is 1000 + 1?", "response": "1001"})

    with ChatServer(reply=lazy) as srv:
        out, counters = run(stage(preds, srv.url), [df])
    new = out.filter(pl.col("is_synthetic"))
    assert new.height == 1 and new["prompt"].to_list() == ["What is 1000 + 1?"]
    assert counters["examples_duplicate"] == 5


def test_rerunning_a_round_on_its_output_adds_nothing(tmp_path: Path) -> None:
    df = seeds()
    preds = predictions(df, WRONG, tmp_path / "p.jsonl")
    with ChatServer(reply=teacher) as srv:
        one, _ = run(stage(preds, srv.url), [df])
        again, counters = run(stage(preds, srv.url), [one])
    assert again.height == one.height and counters["seeds_already_done"] == 3
    assert again["id"].n_unique() == again.height
