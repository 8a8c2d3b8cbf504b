"""LAB generation against a fake teacher and judge (a real local HTTP server): taxonomy parsing of
InstructLab v3 qna.yaml files and our own formats, the judge filter, provenance, the cap,
fail fast, the dry run's yield estimate, the cache and resume after SIGKILL, the key nowhere."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from pydantic import ValidationError

from curate.augment.lab import parse_score, read_taxonomy
from curate.errors import InputError, StageError
from curate.runner import run_stage_frames
from curate.stages.lab_generate import LabGenerate, LabGenerateConfig, generate, yield_check

sys.path.insert(0, str(Path(__file__).parents[1] / "augment"))
from chat_server import ChatServer  # noqa: E402

pytestmark = pytest.mark.timeout(120)
TAXONOMY = Path(__file__).parents[1] / "data" / "lab_taxonomy"
LEAVES = 3


def fake(prompt: str, judge_score: dict[int, int] | None = None) -> str:
    """Teacher and judge: numbered questions; the judge gives odd numbers 5 and even ones 2."""
    if prompt.startswith("Rate the answer"):
        n = int(re.search(r"Question: Q(\d+)", prompt).group(1))  # type: ignore[union-attr]
        score = (judge_score or {}).get(n, 5 if n % 2 else 2)
        return json.dumps({"score": score, "reason": "fake"})
    m = re.search(r"Write new question number (\d+)", prompt)
    if m:
        return json.dumps(
            {
                "question": f"Q{m.group(1)}: what about {hashlib.sha256(prompt.encode()).hexdigest()[:8]}?"
            }
        )
    q = re.search(r"Question: (.*)$", prompt, re.S)
    return f"An answer to {q.group(1) if q else '?'}"


def cfg(url: str, **kw: object) -> LabGenerateConfig:
    base: dict[str, object] = {
        "taxonomy": str(TAXONOMY),
        "questions_per_leaf": 4,
        "max_synthetic_fraction": 0.9,
        "teacher": {
            "base_url": url,
            "model": "teacher-7b",
            "cache_path": None,
            "backoff_s": 0.0,
            "max_retries": 1,
        },
    }
    base.update(kw)
    return LabGenerateConfig.model_validate(base)


def dataset(n: int = 10) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [f"d{i:02d}" for i in range(n)],
            "text": [f"doc {i}" for i in range(n)],
            "source": ["web"] * n,
        }
    )


def run(c: LabGenerateConfig, shards: list[pl.DataFrame]) -> tuple[pl.DataFrame, Counter[str]]:
    counters: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows, _ = run_stage_frames(LabGenerate(c), shards, Path(tmp), counters=counters)
    return rows.drop("_reject"), counters


# ---------------------------------------------------------------- taxonomy formats


def test_reads_instructlab_knowledge_v3_and_skill_leaves() -> None:
    leaves = {leaf.path: leaf for leaf in read_taxonomy(TAXONOMY, chunk_words=40)}
    assert sorted(leaves) == [
        "compositional_skills/math/unit_conversion",
        "compositional_skills/writing/haiku",
        "knowledge/science/astronomy/lighthouses_of_light",
    ]
    knowledge = leaves["knowledge/science/astronomy/lighthouses_of_light"]
    assert knowledge.kind == "knowledge" and len(knowledge.seeds) == 15
    assert knowledge.task.startswith("astronomy: Overview of pulsars")
    assert all(s.context for s in knowledge.seeds)
    assert len(knowledge.contexts) > 5 and any(
        "PSR B1257+12" in c for c in knowledge.contexts
    )  # the document's chunks
    haiku = leaves["compositional_skills/writing/haiku"]
    assert (
        haiku.kind == "skill" and haiku.seeds[0].context == "The topic is the first snow of winter."
    )
    assert haiku.seeds[0].answer.splitlines()[0] == "Silent flakes descend"


def test_a_missing_knowledge_document_is_counted_not_fatal(tmp_path: Path) -> None:
    leaf = tmp_path / "knowledge" / "x"
    leaf.mkdir(parents=True)
    text = (TAXONOMY / "knowledge/science/astronomy/lighthouses_of_light/qna.yaml").read_text()
    (leaf / "qna.yaml").write_text(text)
    (got,) = read_taxonomy(tmp_path)
    assert got.documents_missing == 1 and len(got.contexts) == 5


def test_our_own_yaml_and_jsonl(tmp_path: Path) -> None:
    (tmp_path / "doc.txt").write_text("Tides are caused by the Moon. " * 30)
    (tmp_path / "seeds.yaml").write_text(
        "- path: ocean/tides\n  task_description: Explain tides\n  documents: [doc.txt]\n"
        "  seeds:\n    - question: What causes tides?\n      answer: The gravity of the Moon.\n"
        "- path: math/add\n  seeds:\n    - question: 2+2?\n      answer: '4'\n"
    )
    a, b = read_taxonomy(tmp_path / "seeds.yaml", chunk_words=50)
    assert (a.path, a.kind, b.path, b.kind) == ("math/add", "skill", "ocean/tides", "knowledge")
    assert len(b.contexts) == 4
    lines = [
        {"path": "p/q", "question": f"q{i}", "answer": f"a{i}", "task_description": "T"}
        for i in range(3)
    ]
    (tmp_path / "seeds.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (leaf,) = read_taxonomy(tmp_path / "seeds.jsonl")
    assert (
        leaf.path == "p/q"
        and leaf.task == "T"
        and [s.answer for s in leaf.seeds] == ["a0", "a1", "a2"]
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 3\ncreated_by: x\ntask_description: t\n", "seed_examples"),
        (
            "version: 3\ntask_description: t\nseed_examples:\n  - {question: q}\n",
            r"seed_examples\[0\]\.answer",
        ),
        (
            "version: 3\ndomain: d\ndocument_outline: o\nseed_examples:\n  - {context: c}\n",
            "questions_and_answers",
        ),
        ("seed_examples: [unclosed\n", "cannot read"),
    ],
)
def test_bad_qna_files_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "leaf").mkdir()
    (tmp_path / "leaf" / "qna.yaml").write_text(text)
    with pytest.raises(InputError, match=message):
        read_taxonomy(tmp_path)


# ---------------------------------------------------------------- generation


def test_judge_filter_provenance_and_response_format() -> None:
    with ChatServer(reply=fake) as srv:
        out, counters = run(cfg(srv.url), [dataset()])
        judge_payloads = [
            p for p in srv.payloads if p["messages"][-1]["content"].startswith("Rate")
        ]
    new = out.filter(pl.col("is_synthetic"))
    assert new.height == LEAVES * 2  # questions 1 and 3 of each leaf score 5, 2 and 4 score 2
    assert set(new["judge_score"]) == {5} and set(new["teacher"]) == {"teacher-7b"}
    assert sorted(set(new["taxonomy_path"])) == sorted(
        leaf.path for leaf in read_taxonomy(TAXONOMY)
    )
    assert all(re.fullmatch(r"lab-[0-9a-f]{10}-0000[13]", i) for i in new["id"])
    assert all(
        sid.split("#")[0] == p for sid, p in zip(new["seed_id"], new["taxonomy_path"], strict=True)
    )
    assert new["prompt_hash"].str.len_chars().to_list() == [16] * new.height
    assert (new["text"] == new["prompt"] + "\n\n" + new["response"]).all() and set(
        new["source"]
    ) == {"lab_generate"}
    assert (
        counters["pairs_judged"] == 12
        and counters["pairs_kept"] == 6
        and counters["synthetic_added"] == 6
    )
    assert len(judge_payloads) == 12
    assert all(p["response_format"]["type"] == "json_schema" for p in judge_payloads)
    assert out.filter(~pl.col("is_synthetic")).height == 10


def test_unparsable_judge_answers_are_not_kept() -> None:
    def server(p: str) -> str:
        return "Score: 5/5, great answer!" if p.startswith("Rate") else fake(p)

    with ChatServer(reply=server) as srv:
        out, counters = run(cfg(srv.url, judge_response_format="none"), [dataset()])
        assert all("response_format" not in p for p in srv.payloads)
    assert out["is_synthetic"].sum() == 0 and counters["judge_unparsed"] == 12


def test_cap_limits_generated_rows() -> None:
    with ChatServer(reply=fake) as srv:
        out, counters = run(cfg(srv.url, max_synthetic_fraction=0.2), [dataset(10)])
    assert (
        out["is_synthetic"].sum() == 2 and counters["pairs_capped"] == 4
    )  # 2 / 12 <= 0.2 < 3 / 13
    assert out["is_synthetic"].sum() / out.height <= 0.2


def test_fail_fast_when_the_kept_share_is_too_low() -> None:
    def stingy(p: str) -> str:
        return json.dumps({"score": 1}) if p.startswith("Rate") else fake(p)

    with (
        ChatServer(reply=stingy) as srv,
        pytest.raises(StageError, match=r"only 0 of 4 judged pairs kept .* after 1 of 3 leaves"),
    ):
        generate(cfg(srv.url, min_kept_share=0.3, fail_after_judged=4))
    assert srv.requests == 12  # one leaf: 4 questions, 4 answers, 4 verdicts; then it stopped


def test_yield_check_estimates_the_full_run_and_its_answers_are_reused(tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite"
    with ChatServer(reply=fake) as srv:
        c = cfg(
            srv.url,
            questions_per_leaf=10,
            teacher={"base_url": srv.url, "model": "teacher-7b", "cache_path": str(cache)},
        )
        lines = yield_check(c, probe=2)
        probe_requests = srv.requests
        real = generate(c)
    text = "\n".join(lines)
    assert probe_requests == LEAVES * 2 * 3
    assert (
        "about 90 requests" in text
        and "kept share 0.50" in text
        and "estimated kept pairs: 15" in text
    )
    assert re.search(r"tokens: about \d+", text)
    assert srv.requests - probe_requests == 90 - 18  # the probe's answers came from the cache
    share = real.counts["pairs_kept"] / real.counts["pairs_judged"]
    assert share == pytest.approx(0.5)  # the estimate matched the real yield here


def test_rerun_pays_nothing_twice(tmp_path: Path) -> None:
    teacher = {"model": "t", "cache_path": str(tmp_path / "c.sqlite")}
    with ChatServer(reply=fake) as srv:
        c = cfg(srv.url, teacher={**teacher, "base_url": srv.url})
        first = generate(c)
        n = srv.requests
        second = generate(c)
    assert n == 36 and srv.requests == 36 and first.rows == second.rows


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"min_score": 6}, "less than or equal to 5"),
        ({"judge_prompt": "{question} {rubric}"}, "allowed"),
        ({"field": "prompt"}, "different columns"),
        ({"judge_response_format": "xml"}, "json_schema"),
    ],
)
def test_invalid_configs(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        cfg("http://x", **kw)


def test_parse_score_is_strict() -> None:
    assert parse_score('{"score": 4, "reason": "ok"}') == 4
    assert parse_score('```json\n{"score": 5}\n```') == 5
    assert parse_score('{"score": 9}') is None and parse_score('{"score": true}') is None
    assert parse_score("I would give it a 4") is None


# ---------------------------------------------------------------- the command


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "curate", "lab-generate", *args]
    return subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_cli_dry_run_then_run_writes_the_key_nowhere(tmp_path: Path) -> None:
    key = "sk-lab-SECRET-abcdef0123456789"
    data = tmp_path / "data.jsonl"
    dataset(30).write_ndjson(data)
    env = {**os.environ, "LAB_KEY": key}
    with ChatServer(reply=fake, api_key=key) as srv:
        common = [
            str(data),
            "-o",
            "out",
            "--taxonomy",
            str(TAXONOMY),
            "--base-url",
            srv.url,
            "--model",
            "teacher-7b",
            "--api-key-env",
            "LAB_KEY",
            "--questions",
            "4",
            "--max-synthetic-fraction",
            "0.5",
        ]
        dry = _cli([*common, "--dry-run"], env, tmp_path)
        out, err = dry.communicate(timeout=60)
        assert dry.returncode == 0, err
        assert (
            "kept share 0.50" in out
            and "about 36 requests" in out
            and not (tmp_path / "out").exists()
        )
        assert err.count("lab_generate [") == LEAVES  # progress per block
        real = _cli(common, env, tmp_path)
        rout, rerr = real.communicate(timeout=90)
    assert real.returncode == 0, rerr
    assert rerr.count("lab_generate [") == LEAVES
    rows = pl.read_parquet(list((tmp_path / "out").glob("*.parquet")))
    assert rows["is_synthetic"].sum() == 6
    for p in tmp_path.rglob("*"):
        if p.is_file():
            assert key.encode() not in p.read_bytes(), p
    assert key not in out + err + rout + rerr


def test_cli_fail_fast_exits_1_with_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    dataset(30).write_ndjson(data)
    with ChatServer(
        reply=lambda p: json.dumps({"score": 1}) if p.startswith("Rate") else fake(p)
    ) as srv:
        proc = _cli(
            [
                str(data),
                "-o",
                "out",
                "--taxonomy",
                str(TAXONOMY),
                "--base-url",
                srv.url,
                "--model",
                "t",
                "--questions",
                "10",
                "--min-kept-share",
                "0.2",
                "-q",
            ],
            dict(os.environ),
            tmp_path,
        )
        _, err = proc.communicate(timeout=90)
    assert proc.returncode == 1
    assert "error:" in err and "min_kept_share=0.2" in err and "Traceback" not in err


def test_resume_after_sigkill_repeats_no_answered_request(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    dataset(200).write_ndjson(data)
    args = [
        str(data),
        "-o",
        "out",
        "--taxonomy",
        str(TAXONOMY),
        "--model",
        "t",
        "--questions",
        "30",
        "--concurrency",
        "2",
        "--cache",
        str(tmp_path / "cache.sqlite"),
        "-q",
    ]
    with ChatServer(reply=fake, latency_s=0.02) as srv:
        proc = _cli([*args, "--base-url", srv.url], dict(os.environ), tmp_path)
        deadline = time.monotonic() + 60
        while srv.requests < 60 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        first = Counter(srv.prompts)
        n_first = srv.requests
        again = _cli([*args, "--base-url", srv.url, "--resume"], dict(os.environ), tmp_path)
        _, err = again.communicate(timeout=90)
        assert again.returncode == 0, err
        second = Counter(srv.prompts[n_first:])
    repeated = [p for p in second if p in first]
    assert n_first >= 60 and len(repeated) <= 2  # at most the requests in flight at the kill
    assert sum(first.values()) + sum(second.values()) - len(repeated) == LEAVES * 30 * 3


def test_no_room_under_the_cap_sends_no_request() -> None:
    with ChatServer(reply=fake) as srv:
        out, counters = run(cfg(srv.url, max_synthetic_fraction=0.05), [dataset(10)])
    assert srv.requests == 0 and counters["skipped_no_budget"] == 1 and out.height == 10


def test_duplicate_questions_are_not_answered() -> None:
    def repetitive(p: str) -> str:
        if re.search(r"Write new question number", p):
            # every leaf asks the same two questions; one of them is a seed question
            n = int(re.search(r"number (\d+)", p).group(1))  # type: ignore[union-attr]
            return json.dumps(
                {"question": "Q1: what is new?" if n % 2 else "What kind of star is a PULSAR?"}
            )
        return fake(p)

    with ChatServer(reply=repetitive) as srv:
        res = generate(cfg(srv.url))
    assert res.counts["questions_duplicate"] == 11  # 12 asked: one new question kept once
    assert res.counts["pairs_judged"] == 1 and srv.requests == 12 + 1 + 1


def test_yield_check_in_the_stage_stops_before_the_full_run() -> None:
    def stingy(p: str) -> str:
        return json.dumps({"score": 1}) if p.startswith("Rate") else fake(p)

    with (
        ChatServer(reply=stingy) as srv,
        pytest.raises(
            StageError, match="yield check: judged: 6, kept: 0 .* full run was not started"
        ),
    ):
        run(cfg(srv.url, questions_per_leaf=50, yield_check=2, min_kept_share=0.5), [dataset()])
    assert srv.requests == LEAVES * 2 * 3  # the probe only


def test_a_passing_yield_check_costs_nothing_extra(tmp_path: Path) -> None:
    teacher = {"model": "t", "cache_path": str(tmp_path / "c.sqlite")}
    with ChatServer(reply=fake) as srv:
        c = cfg(
            srv.url, yield_check=2, min_kept_share=0.2, teacher={**teacher, "base_url": srv.url}
        )
        out, _ = run(c, [dataset()])
    assert srv.requests == LEAVES * 4 * 3 and out["is_synthetic"].sum() == 6


def test_rerun_on_its_own_output_adds_no_row_twice() -> None:
    with ChatServer(reply=fake) as srv:
        one, _ = run(cfg(srv.url), [dataset(40)])
        two, counters = run(cfg(srv.url), [one])
    assert one["is_synthetic"].sum() == 6 and two.height == one.height
    assert counters["pairs_already_present"] == 6 and two["id"].n_unique() == two.height


def test_curate_run_chains_the_synthetic_stages_and_the_counts_add_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import yaml
    from typer.testing import CliRunner

    from curate.cli import app

    key = "sk-run-SECRET-0123456789abcdef"
    monkeypatch.setenv("TEACHER_KEY", key)
    shutil.copytree(TAXONOMY, tmp_path / "taxonomy")
    rows = [
        {
            "id": f"s{i:02d}",
            "prompt": f"What is {i} + 3?",
            "response": f"It is {i + 3}.",
            "text": f"What is {i} + 3?",
        }
        for i in range(30)
    ]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    preds = [
        {
            "id": r["id"],
            "prompt": r["prompt"],
            "reference": str(i + 3),
            "prediction": str(i + 3 + (i < 3)),
        }
        for i, r in enumerate(rows)
    ]
    (tmp_path / "preds.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))

    def reply(p: str) -> str:
        if "Student's answer" in p:
            j = re.search(r"new example (\d+) of", p)
            q = re.search(r"Question: (.*?)\n", p)
            return json.dumps(
                {
                    "prompt": f"{q.group(1) if q else '?'} (variant {j.group(1) if j else 0})",
                    "response": "r",
                }
            )
        return fake(p)

    with ChatServer(reply=reply, api_key=key) as srv:
        teacher = {
            "base_url": srv.url,
            "model": "teacher-7b",
            "api_key_env": "TEACHER_KEY",
            "cache_path": "cache/llm.sqlite",
        }
        config = {
            "input": {"paths": ["data.jsonl"]},
            "workdir": "work",
            "output": {"path": "out"},
            "stages": [
                {
                    "kind": "targeted_augment",
                    "predictions": "preds.jsonl",
                    "k": 2,
                    "check": "exact",
                    "teacher": teacher,
                },
                {
                    "kind": "lab_generate",
                    "taxonomy": "taxonomy",
                    "questions_per_leaf": 4,
                    "max_synthetic_fraction": 0.5,
                    "teacher": teacher,
                },
                {
                    "kind": "augment",
                    "pairs": "preference",
                    "field": "response",
                    "prompt_field": "prompt",
                    "degradations": [{"name": "truncate"}],
                    "fraction": 1.0,
                    "max_synthetic_fraction": 0.6,
                },
            ],
        }
        (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
        result = CliRunner().invoke(app, ["run", str(tmp_path / "run.yaml"), "-q"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    totals = manifest["totals"]
    assert totals["docs_in"] + totals["docs_added"] == totals["docs_out"] + totals["docs_rejected"]
    assert (tmp_path / "cache" / "llm.sqlite").is_file()  # relative to the config file's folder
    steps = {s["stage"]: s["counts"] for s in manifest["steps"]}
    for counts in steps.values():
        assert (
            counts["docs_in"] + counts["docs_added"]
            == counts["docs_kept"] + counts["docs_rejected"]
        )
    assert steps["targeted_augment"]["counters"]["round_1_examples_added"] == 6
    assert steps["targeted_augment"]["counters"]["round_1_error_rate_bp"] == 1000
    assert steps["lab_generate"]["counters"]["synthetic_added"] == 6
    assert totals["docs_out"] == 30 + 6 + 6 + 30  # one truncated pair per original row
    for p in tmp_path.rglob("*"):
        if p.is_file():
            assert key.encode() not in p.read_bytes(), p
