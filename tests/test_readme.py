"""The README's shell examples run as written (on small data built here)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

from conftest import make_records, read_dir, read_rejected, write_jsonl

README = Path(__file__).parents[1] / "README.md"


def bash_blocks() -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    return [[ln.split("#")[0].strip() for ln in b.splitlines() if ln.strip().startswith("curate ")] for b in blocks]


def block_with(word: str) -> list[str]:
    return next(b for b in bash_blocks() if any(word in line for line in b))


def run_lines(cli: Any, lines: list[str], replace: dict[str, str] | None = None) -> None:
    for line in lines:
        for old, new in (replace or {}).items():
            line = line.replace(old, new)
        args = shlex.split(line)[1:]
        result = cli(*args, "-q") if args[0] not in ("index",) else cli(*args)
        assert result.exit_code == 0, (line, result.output)


def test_the_chained_commands_example(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "raw" / "a.jsonl.zst", [{"content": r["text"]} for r in make_records(60, seed=1, dup_every=5)])
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "note.jsonl").write_text('{"content": "a note in the docs folder"}\n')
    run_lines(cli, block_with("curate dedup ingested/"))
    published = json.loads((tmp_path / "dataset" / "_manifest.json").read_text())
    assert sum(published["splits"].values()) == read_dir(tmp_path / "deduped").height > 0
    assert published["lineage"][0]["path"] == str(tmp_path / "deduped")


def test_the_weekly_refresh_example(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "this-week" / "d.jsonl", make_records(40, seed=2, dup_every=4))
    run_lines(cli, block_with("curate index info"), {"/data/minhash-index": str(tmp_path / "idx")})
    assert (tmp_path / "idx" / "_index.json").is_file()


def test_the_protection_example(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CURATE_PII_KEY", "readme-test-key")
    question = "Which river flows through the ancient city that was the capital of the western roman empire"
    texts = [f"Write to jane.doe{i}@example.org about the garden." for i in range(5)]
    texts += ["Quiz leak: " + question + "? The Tiber." + " Padding text about nothing." * 20, "token ghp_" + "a1B2c3D4e5" * 3 + "f6G7h8"]
    write_jsonl(tmp_path / "deduped" / "d.jsonl", [{"text": t} for t in texts])
    write_jsonl(tmp_path / "evals" / "quiz.jsonl", [{"question": question, "answer": "The Tiber."}])
    run_lines(cli, block_with("curate decontaminate"))
    clean = read_dir(tmp_path / "clean")
    assert clean.height == 6 and not clean["text"].str.contains("@example.org").any()
    assert not clean["text"].str.contains("roman empire").any()
    assert read_dir(tmp_path / "redacted" / "rejected")["reject_reason"].to_list() == ["pii"]


def test_the_selection_example(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    manual = [f"the planner picks an index scan on table t{i} when the filter keeps few rows of it" for i in range(60)]
    forum = [f"anyone know why my query {i} is slow? the planner ignores my index on table t{i}" for i in range(60)]
    other = [f"buy cheap watches number {i} today with free shipping and no questions asked at all" for i in range(60)]
    rows = [{"text": t, "source": "manual"} for t in manual] + [{"text": t, "source": "forum"} for t in forum]
    write_jsonl(tmp_path / "clean" / "d.jsonl", rows + [{"text": t, "source": "forum"} for t in other])
    write_jsonl(tmp_path / "wanted.jsonl", [{"text": t.replace("index", "bitmap")} for t in manual[:20]])
    lines = [line.replace("--budget 2M", "--budget 1000") for line in block_with("curate learnability")]
    run_lines(cli, lines)
    selected = read_dir(tmp_path / "selected")
    # never above a quota; below it by less than one document (~20 tokens) per source
    assert 960 <= selected["token_count"].sum() <= 1000
    manual_tokens = selected.filter(selected["source"] == "manual")["token_count"].sum()
    assert 680 <= manual_tokens <= 700  # 70 % of the budget
    assert not selected["text"].str.contains("watches").any()
    rejected = read_dir(tmp_path / "selected" / "rejected")
    assert selected.height + rejected.height == 180 and set(rejected["reject_reason"]) == {"not_selected"}


def test_the_report_inspect_and_diff_example(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    import shlex

    import polars as pl
    import yaml

    monkeypatch.chdir(tmp_path)
    stages = [{"kind": "exact_dedup"}, {"kind": "minhash_dedup"}, {"kind": "quality_score", "heuristics": ["gopher"]}, {"kind": "filter", "rules": {"enough_words": "gopher_word_count >= 10"}}]
    (tmp_path / "configs").mkdir()
    for name, seed, out in (("old.yaml", 1, "last-week"), ("example.yaml", 2, "out/example")):
        write_jsonl(tmp_path / name.replace(".yaml", "") / "d.jsonl", make_records(80, seed=seed, dup_every=6))
        cfg = {"input": {"sources": [{"paths": [f"../{name.replace('.yaml', '')}/"], "source": "notes"}]}, "workdir": f"../work-{seed}", "output": {"path": f"../{out}"}, "stages": stages, "gates": {"min_docs": 10, "max_score_shift": 1.0}}
        (tmp_path / "configs" / name).write_text(yaml.safe_dump(cfg))
        assert cli("run", f"configs/{name}", "-q").exit_code == 0
    some_id = pl.read_parquet(sorted((tmp_path / "out/example/_rejected").glob("01_exact_dedup-*.parquet"))[0])["id"][0]
    outputs = []
    for line in block_with("curate inspect"):
        args = shlex.split(line.replace("d5e02de7665d8837", some_id))[1:]
        result = cli(*args)
        assert result.exit_code == 0, (line, result.output)
        outputs.append(result.stdout)
    assert outputs[0].strip() == str(Path("out/example") / "report.html") and (tmp_path / "out/example/report.json").is_file()
    assert f"{some_id}: rejected" in outputs[3]
    assert "documents: " in outputs[4] and "gates:" in outputs[4]


def test_the_synthetic_data_example(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    import hashlib
    import shutil
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "augment"))
    from chat_server import ChatServer

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEACHER_KEY", "sk-readme-teacher-0123456789")
    rows = [{"id": f"s{i:02d}", "prompt": f"What is {i} + {i + 3}?", "response": f"First add {i} and {i + 3}.\nThe sum is {2 * i + 3}."} for i in range(40)]
    write_jsonl(tmp_path / "sft" / "d.jsonl", [{**r, "text": r["prompt"]} for r in rows])
    wrong = {"s02", "s05", "s07"}
    preds = [{"id": r["id"], "prompt": r["prompt"], "reference": str(2 * int(r["id"][1:]) + 3), "prediction": str(2 * int(r["id"][1:]) + 3 + (r["id"] in wrong))} for r in rows]
    write_jsonl(tmp_path / "preds-r1.jsonl", preds)
    shutil.copytree(Path(__file__).parent / "data" / "lab_taxonomy", tmp_path / "taxonomy")

    def reply(prompt: str) -> str:
        if prompt.startswith("Rate the answer"):
            return json.dumps({"score": 5 if re.search(r"Question: Q[12]:", prompt) else 3})
        if (m := re.search(r"Write new question number (\d+)", prompt)) is not None:
            return json.dumps({"question": f"Q{m.group(1)}: a new question on {hashlib.sha256(prompt.encode()).hexdigest()[:8]}?"})
        if (m := re.search(r"Question: What is (\d+) \+ (\d+)\?", prompt)) is not None:
            a, b = int(m.group(1)) + 50, int(m.group(2))
            return json.dumps({"prompt": f"What is {a} + {b}?", "response": str(a + b)})
        return "An answer."

    with ChatServer(reply=reply, api_key="sk-readme-teacher-0123456789") as srv:
        run_lines(cli, block_with("curate targeted-augment"), {"http://127.0.0.1:8000/v1": srv.url})
    pairs = read_dir(tmp_path / "pairs")
    assert pairs.height == 120 and set(pairs["degradation"]) == {2, 3, 4}
    assert {"prompt", "chosen", "rejected"} <= set(pairs.columns)
    round1 = read_dir(tmp_path / "round1")
    assert sorted(round1.filter(round1["is_synthetic"])["seed_id"].unique()) == sorted(wrong)
    lab = read_dir(tmp_path / "lab")
    new = lab.filter(lab["augmentation"] == "lab_generate")
    assert new.height == 6 and set(new["judge_score"]) == {5}  # questions 1 and 2 of each leaf
    assert lab["is_synthetic"].sum() / lab.height <= 0.3


def test_the_fineweb_quality_example(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    prose = (
        "The history of the town is long and it is told in many books that are kept in the library.\n"
        "Many of the people who live there have been there for a long time and they know the story well.\n"
        "In the summer the visitors come to see the old church and to walk along the river with their families.\n"
        "The church was built in the twelfth century and it has been restored many times since then by the town.\n"
        "It is a place that is loved by all who visit it, and many return to it again and again each year.\n"
        "Most of the shops close early on Sunday, and the market is held on the square every Saturday morning."
    )
    docs = [{"text": prose + "\nPlease enable JavaScript to view this page."}, {"text": prose.replace("library", "darn library")},
            {"text": "Lorem ipsum dolor sit amet, they said.\n" + prose}, {"text": "menu | home | contact"}]
    write_jsonl(tmp_path / "crawl" / "d.jsonl", docs)
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "en.txt").write_text("darn\n")
    run_lines(cli, block_with("--preset fineweb"))
    clean = read_dir(tmp_path / "clean")
    assert clean["text"].to_list() == [prose]  # the javascript line is gone; the other documents rejected


def test_the_chunk_and_graph_example(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    import polars as pl

    monkeypatch.chdir(tmp_path)
    pages = [
        "PostgreSQL supports GSSAPI for authentication. GSSAPI is defined in RFC 2743.\n\n"
        "Run psql to connect. " + " ".join(f"Remark {i} is about nothing much at all." for i in range(60)),
        "GNU Wget supports HTTP and FTP. Wget respects the Robot Exclusion Standard. " * 10,
    ]
    write_jsonl(tmp_path / "clean" / "d.jsonl", [{"text": t, "licence": "PostgreSQL"} for t in pages])
    (tmp_path / "names.tsv").write_text("psql\tPROGRAM\n")
    run_lines(cli, block_with("curate graph"))
    chunks = read_dir(tmp_path / "chunks")
    assert (chunks["n_tokens"] <= 300).all() and chunks["document_id"].n_unique() == 2 and chunks.height > 2
    entities = pl.read_parquet(tmp_path / "graph" / "entities.parquet")
    assert dict(entities.select("title", "type").iter_rows())["psql"] == "PROGRAM"
    edges = pl.read_parquet(tmp_path / "graph" / "relationships.parquet")
    assert {"PostgreSQL", "GSSAPI"} in [set(r) for r in edges.select("source", "target").iter_rows()]
    assert json.loads((tmp_path / "graph" / "graph_stats.json").read_text())["entities"] == entities.height


def test_the_web_crawl_example(cli: Any, tmp_path: Path, monkeypatch: Any) -> None:
    import gzip

    import polars as pl

    monkeypatch.chdir(tmp_path)
    paragraph = "The main text of the page, long enough for every extractor to keep it as content. " * 3

    def page(title: str) -> bytes:
        return f"<html><body><nav><a href='/'>Home</a></nav><article><h1>{title}</h1><p>{paragraph}</p></article></body></html>".encode()

    def response(url: str, html: bytes) -> bytes:
        http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html
        head = f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {url}\r\nWARC-Date: 2024-01-01T00:00:00Z\r\n"
        head += f"WARC-Record-ID: <urn:uuid:{url[-1]}>\r\nContent-Type: application/http; msgtype=response\r\nContent-Length: {len(http)}\r\n\r\n"
        return head.encode() + http + b"\r\n\r\n"

    (tmp_path / "crawl").mkdir()
    (tmp_path / "crawl" / "a.warc.gz").write_bytes(b"".join(gzip.compress(response(f"https://ex.com/{k}", page(k))) for k in "ab"))
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_bytes(page("Index"))
    write_jsonl(tmp_path / "scraped.jsonl", [{"text": page("Scraped").decode()}])
    (tmp_path / "blacklists" / "adult").mkdir(parents=True)
    (tmp_path / "blacklists" / "adult" / "domains").write_text("ex.com\n")
    run_lines(cli, block_with("curate extract-html"))
    pages = read_dir(tmp_path / "pages")
    assert sorted(pages["url"].to_list()) == ["https://ex.com/a", "https://ex.com/b"]
    assert set(pages["html_extractor"].to_list()) <= {"trafilatura", "resiliparse"}
    assert read_dir(tmp_path / "site-pages")["path"].to_list() == ["index.html"]
    text = read_dir(tmp_path / "text").filter(pl.col("html_extractor") == "trafilatura")["text"][0]
    assert paragraph.strip() in text and "Home" not in text
    assert read_rejected(tmp_path / "filtered")["reject_reason"].to_list() == ["url_blocked"] * 2
