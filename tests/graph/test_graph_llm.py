"""graph --extractor llm: JSON answers from a chat endpoint become graphrag tables; cached, capped, resumable."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import polars as pl

from conftest import write_jsonl
from curate.graph.llm import parse_answer

sys.path.insert(0, str(Path(__file__).parents[1] / "augment"))
from chat_server import ChatServer  # noqa: E402

TEXTS = ["Alpha Corp acquired Beta Labs in 2020.", "Beta Labs builds the Gamma engine.", "Nothing to see."]


def reply(prompt: str) -> str:
    """A scripted model: entities and edges for the chunk in the prompt; summaries on request."""
    if prompt.startswith("Write one or two sentences"):
        return "SUMMARY of " + prompt.split(" of ", 1)[1].split(",", 1)[0]
    text = prompt.rsplit("Text:\n", 1)[1]
    ents, rels = [], []
    if "Alpha Corp" in text:
        ents += [{"name": "Alpha Corp", "type": "organization", "description": "buys companies"}, {"name": "Beta Labs", "type": "organization", "description": "was acquired"}]
        rels.append({"source": "Alpha Corp", "target": "Beta Labs", "description": "acquired", "strength": 8})
    if "Gamma" in text:
        ents += [{"name": "beta labs", "type": "organization", "description": "builds engines"}, {"name": "Gamma engine", "type": "product", "description": "an engine"}]
        rels.append({"source": "Beta Labs", "target": "Gamma engine", "description": "builds", "strength": 5})
    if not ents:
        return "I found nothing."
    return "```json\n" + json.dumps({"entities": ents, "relationships": rels}) + "\n```"


def test_parse_answer_keeps_well_formed_items_only() -> None:
    answer = 'Sure: {"entities": [{"name": "A Co", "type": "org"}, {"name": 3}, {"type": "x"}], "relationships": [{"source": "A Co", "target": "Nowhere"}, {"source": "a co", "target": "A Co"}]}'
    assert parse_answer(answer) == ([("A Co", "ORG", "")], [])
    ok = parse_answer('{"entities": [{"name": "A"}, {"name": "B"}], "relationships": [{"source": "A", "target": "B", "strength": "high"}]}')
    assert ok is not None and ok[1] == [("A", "B", "", 1.0)]
    assert parse_answer("no json") is None and parse_answer('{"entities": 3}') is None and parse_answer("{bad json}") is None


def run(cli: Any, tmp_path: Path, url: str, *extra: str) -> Any:
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in TEXTS])
    return cli("graph", src, "-o", tmp_path / "g", "--extractor", "llm", "--base-url", url, "--model", "m", "--llm-cache", tmp_path / "cache.sqlite", "--overwrite", "-q", *extra)


def test_llm_graph_merges_names_across_chunks_and_resumes_from_its_cache(cli: Any, tmp_path: Path) -> None:
    with ChatServer(reply=reply) as srv:
        result = run(cli, tmp_path, srv.url)
        assert result.exit_code == 0, result.output
        first = srv.requests
        ents = pl.read_parquet(tmp_path / "g" / "entities.parquet")
        rels = pl.read_parquet(tmp_path / "g" / "relationships.parquet")
        beta = ents.filter(pl.col("title") == "Beta Labs").row(0, named=True)
        assert beta["frequency"] == 2 and beta["type"] == "ORGANIZATION" and beta["description"] == "was acquired builds engines"
        assert beta["degree"] == 2 and len(beta["text_unit_ids"]) == 2
        assert sorted(rels.select("source", "target").rows()) == [("Alpha Corp", "Beta Labs"), ("Beta Labs", "Gamma engine")]
        assert rels.filter(pl.col("source") == "Alpha Corp")["weight"].to_list() == [8.0]
        stats = json.loads((tmp_path / "g" / "graph_stats.json").read_text())
        assert stats["llm"]["llm_parsed_chunks"] == 2 and stats["llm"]["llm_unparsed_chunks"] == 1
        # a rerun reads every answer from the cache: no request is paid twice
        assert run(cli, tmp_path, srv.url).exit_code == 0
        assert srv.requests == first == 3
    units = pl.read_parquet(tmp_path / "g" / "text_units.parquet")
    assert units["entity_ids"].list.len().to_list() == [2, 2, 0]


def test_llm_graph_respects_the_chunk_cap_and_summarises_on_request(cli: Any, tmp_path: Path) -> None:
    with ChatServer(reply=reply) as srv:
        assert run(cli, tmp_path, srv.url, "--max-chunks", "2", "--summarize").exit_code == 0
        stats = json.loads((tmp_path / "g" / "graph_stats.json").read_text())
        assert stats["llm"]["llm_chunks_over_cap"] == 1 and stats["llm"]["llm_summaries"] == 1
        assert srv.requests == 3  # two chunks and one summary (Beta Labs is described twice)
    ents = pl.read_parquet(tmp_path / "g" / "entities.parquet")
    assert ents.filter(pl.col("title") == "Beta Labs")["description"].to_list() == ["SUMMARY of Beta Labs"]


def test_llm_endpoint_with_credentials_is_refused_before_any_work(cli: Any, tmp_path: Path) -> None:
    result = run(cli, tmp_path, "https://user:secret@example.org/v1")
    assert result.exit_code == 2 and "secret" not in result.output and "credentials" in result.output
    assert not (tmp_path / "g").exists()


def test_llm_extractor_needs_an_endpoint(cli: Any, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "x"}])
    result = cli("graph", src, "-o", tmp_path / "g", "--extractor", "llm")
    assert result.exit_code == 2 and "extractor: llm needs the endpoint" in result.output
