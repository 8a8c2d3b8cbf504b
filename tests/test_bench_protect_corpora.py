"""The PII and decontamination benchmark corpus builders: deterministic for a seed, truth that points
at what was planted (benchmarks/pii/build_pii_corpus.py, benchmarks/decontam/build_decontam_corpus.py)."""

from __future__ import annotations

import gzip
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("the index table query server option value function returns number string file directory "
         "command output input default user system manual page section example error message buffer "
         "process signal memory column row lock transaction").split()


def _sentence(r: random.Random) -> str:
    words = [r.choice(WORDS) for _ in range(r.randint(8, 30))]
    return " ".join(words).capitalize() + "."


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small stand-in for real_docs.parquet (the builders' input format), and a tiny HumanEval."""
    r = random.Random(7)
    rows = []
    for k in range(400):
        src = ("postgresql_docs", "perl_docs", "gnu_info", "debian_changelog")[k % 4]
        paras = ["\n".join(" ".join(_sentence(r) for _ in range(3)) for _ in range(r.randint(1, 4)))
                 for _ in range(r.randint(1, 4))]
        rows.append({"id": f"{k:016x}", "text": "\n\n".join(paras), "source": src, "origin": f"f{k}"})
    d = tmp_path_factory.mktemp("src")
    pl.DataFrame(rows).write_parquet(d / "real.parquet")
    with gzip.open(d / "HumanEval.jsonl.gz", "wt") as fh:
        for k in range(5):
            fh.write(json.dumps({"task_id": f"HumanEval/{k}", "entry_point": f"f{k}", "test": "",
                                 "prompt": f"def f{k}(x):\n    \"\"\" {_sentence(r)} {_sentence(r)}\"\"\"\n",
                                 "canonical_solution": f"    return x + {k} * len(str(x)) - {k + 1}\n"}) + "\n")
    return d


def _run(script: str, *args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], check=True, capture_output=True)


def _frames(d: Path, names: list[str]) -> dict[str, pl.DataFrame]:
    return {n: pl.read_parquet(d / n) for n in names}


def test_pii_builder_deterministic_and_offsets(source: Path, tmp_path: Path) -> None:
    names = ["corpus.parquet", "truth.parquet", "negatives.parquet", "source.parquet"]
    for out in ("a", "b"):
        _run("pii/build_pii_corpus.py", "--docs", "300", "--seed", "3", "--source", str(source / "real.parquet"),
             "-o", str(tmp_path / out))
    a, b = _frames(tmp_path / "a", names), _frames(tmp_path / "b", names)
    for n in names:
        assert a[n].equals(b[n]), n
    _run("pii/build_pii_corpus.py", "--docs", "300", "--seed", "4", "--source", str(source / "real.parquet"),
         "-o", str(tmp_path / "c"))
    assert not pl.read_parquet(tmp_path / "c" / "corpus.parquet").equals(a["corpus.parquet"])

    text = dict(a["corpus.parquet"].select("id", "text").iter_rows())
    truth, negs = a["truth.parquet"], a["negatives.parquet"]
    assert set(truth["type"]) == {"email", "phone", "ipv4", "ipv6", "credit_card", "iban", "secret"}
    assert negs.height > 50
    for frame in (truth, negs):
        for row in frame.iter_rows(named=True):
            assert text[row["id"]][row["start"]:row["end"]] == row["value"]
    # planted spans never overlap one another within a document
    spans = pl.concat([truth.select("id", "start", "end"), negs.select("id", "start", "end")]).sort("id", "start")
    rows = spans.rows()
    for (i0, _, e0), (i1, s1, _) in zip(rows, rows[1:], strict=False):
        assert i0 != i1 or e0 <= s1
    # validity of what was planted
    sys.path.insert(0, str(ROOT / "benchmarks" / "pii"))
    from build_pii_corpus import iban_valid, luhn_ok

    for row in truth.filter(pl.col("type") == "credit_card").iter_rows(named=True):
        assert luhn_ok(re.sub(r"\D", "", row["value"]))
    for row in truth.filter(pl.col("type") == "iban").iter_rows(named=True):
        assert iban_valid(row["value"])
    for row in negs.filter(pl.col("kind") == "invalid_iban").iter_rows(named=True):
        assert not iban_valid(row["value"])
    for row in negs.filter(pl.col("kind") == "invalid_card").iter_rows(named=True):
        assert not luhn_ok(re.sub(r"\D", "", row["value"]))
    # a national-format phone number comes with its document's region
    corpus = a["corpus.parquet"]
    nat = truth.filter(pl.col("subtype").str.ends_with(":national"))
    regions = dict(corpus.select("id", "region").iter_rows())
    for row in nat.iter_rows(named=True):
        assert regions[row["id"]] == row["subtype"].split(":")[0]


def test_decontam_builder_deterministic_and_offsets(source: Path, tmp_path: Path) -> None:
    names = ["corpus.parquet", "truth.parquet", "evals/docqa.parquet"]
    args = ["--docs", "300", "--items", "60", "--plant-fraction", "0.2", "--source", str(source / "real.parquet"),
            "--humaneval", str(source / "HumanEval.jsonl.gz")]
    for out in ("a", "b"):
        _run("decontam/build_decontam_corpus.py", *args, "--seed", "5", "-o", str(tmp_path / out))
    a, b = _frames(tmp_path / "a", names), _frames(tmp_path / "b", names)
    for n in names:
        assert a[n].equals(b[n]), n
    for f in ("evals/humaneval.jsonl", "evals/infoqa.csv", "against.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()

    text = dict(a["corpus.parquet"].select("id", "text").iter_rows())
    truth = a["truth.parquet"]
    assert truth.height == 60
    assert truth["id"].n_unique() == truth.height
    for row in truth.iter_rows(named=True):
        assert text[row["id"]][row["start"]:row["end"]] == row["planted"]
    # a verbatim plant is the item's fields joined by a newline, as the stage joins them
    qa = pl.concat([a["evals/docqa.parquet"].drop("source"), pl.read_csv(tmp_path / "a" / "evals" / "infoqa.csv")])
    item = {i: f"{q}\n{ans}" for i, q, ans in qa.iter_rows()}
    for line in (tmp_path / "a" / "evals" / "humaneval.jsonl").read_text().splitlines():
        p = json.loads(line)
        item[p["task_id"]] = f"{p['prompt']}\n{p['canonical_solution']}"
    for row in truth.filter(pl.col("edit") == "verbatim").iter_rows(named=True):
        assert row["planted"] == item[row["item_id"]].strip("\n")
