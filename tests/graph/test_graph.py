"""graph: offline entities and co-occurrence edges in graphrag's table schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import write_jsonl
from curate.graph import EdgeRule, Extractor, GraphBuilder, GraphSettings
from curate.graph.extract import acronym_pair, normalise

# graphrag's documented output tables (graphrag/data_model/schemas.py *_FINAL_COLUMNS and the
# types its readers cast to, graphrag/data_model/dfs.py), written out here as the specification
GRAPHRAG = {
    "entities": [
        ("id", "string"), ("human_readable_id", "int"), ("title", "string"), ("type", "string"),
        ("description", "string"), ("text_unit_ids", "list<string>"), ("frequency", "int"), ("degree", "int"),
    ],
    "relationships": [
        ("id", "string"), ("human_readable_id", "int"), ("source", "string"), ("target", "string"),
        ("description", "string"), ("weight", "float"), ("combined_degree", "int"), ("text_unit_ids", "list<string>"),
    ],
    "text_units": [
        ("id", "string"), ("human_readable_id", "int"), ("text", "string"), ("n_tokens", "int"), ("document_id", "string"),
        ("entity_ids", "list<string>"), ("relationship_ids", "list<string>"), ("covariate_ids", "list<string>"),
    ],
}


def kind_of(t: pa.DataType) -> str:
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return "list<" + kind_of(t.value_type) + ">"
    return str(t)


def graph_of(texts: list[str], rule: EdgeRule | None = None, extractor: Extractor | None = None) -> Any:
    b = GraphBuilder(extractor or Extractor(), rule or EdgeRule())
    b.add([f"c{i}" for i in range(len(texts))], pl.Series(texts, dtype=pl.String))
    return b.build()


def titles(g: Any) -> set[str]:
    return set(g.entities["title"].to_list())


def edges(g: Any) -> set[frozenset[str]]:
    return {frozenset(p) for p in g.relationships.select("source", "target").iter_rows()}


CORPUS = [
    "PostgreSQL ships the psql client. The Free Software Foundation publishes GNU Emacs.",
    "The Generalized Search Tree (GiST) is an index method of PostgreSQL. GiST indexes are lossy.",
    "Specifies the value of shared_buffers in postgresql.conf for PostgreSQL.",
    "Richard Stallman founded the Free Software Foundation. POSTGRESQL is not Emacs.",
    "",
]


def test_the_three_tables_load_with_graphrags_columns_and_types(cli: Any, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": t, "licence": "PostgreSQL"} for t in CORPUS if t] * 3)
    result = cli("graph", src, "-o", tmp_path / "g", "--max-tokens", "20", "--overlap", "0", "-q")
    assert result.exit_code == 0, result.output
    tables = {name: pq.read_table(tmp_path / "g" / f"{name}.parquet") for name in GRAPHRAG}
    for name, spec in GRAPHRAG.items():
        schema = tables[name].schema
        assert [(f.name, kind_of(f.type)) for f in schema][: len(spec)] == spec, name
        assert tables[name].num_rows > 0
    units = tables["text_units"].to_pandas()
    ents = tables["entities"].to_pandas()
    rels = tables["relationships"].to_pandas()
    # the links agree: every id a unit lists exists, and every entity lists the units it is in
    assert set(units["entity_ids"].explode().dropna()) == set(ents["id"])
    assert set(units["relationship_ids"].explode().dropna()) == set(rels["id"])
    assert set(rels["source"]) | set(rels["target"]) <= set(ents["title"])
    assert ents["id"].is_unique and rels["id"].is_unique and units["id"].is_unique
    assert sorted(units["human_readable_id"]) == list(range(len(units)))
    assert set(units["licence"]) == {"PostgreSQL"} and {"chunk_index", "char_start", "char_end"} <= set(units.columns)
    stats = json.loads((tmp_path / "g" / "graph_stats.json").read_text())
    assert stats["entities"] == len(ents) and stats["relationships"] == len(rels) and stats["chunks"] == len(units)
    assert stats["tables"] == {"entities": len(ents), "relationships": len(rels), "text_units": len(units)}
    assert stats["documents_in"] == 12 == stats["documents_chunked"] + stats["documents_rejected"]
    assert stats["settings"]["window"] == 0
    assert sum(stats["degree_histogram"].values()) == len(ents)


def test_graph_of_blank_input_writes_empty_tables(cli: Any, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "   "}, {"text": "no names here at all."}])
    result = cli("graph", src, "-o", tmp_path / "g", "-q")
    assert result.exit_code == 0, result.output
    for name, spec in GRAPHRAG.items():
        table = pq.read_table(tmp_path / "g" / f"{name}.parquet")
        assert [f.name for f in table.schema][: len(spec)] == [c for c, _ in spec]
    stats = json.loads((tmp_path / "g" / "graph_stats.json").read_text())
    assert (stats["entities"], stats["relationships"], stats["chunks"], stats["documents_in"]) == (0, 0, 1, 2)


def test_graph_accepts_chunks_from_curate_chunk(cli: Any, tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in CORPUS if t])
    assert cli("chunk", src, "-o", tmp_path / "chunks", "--max-tokens", "16", "--overlap", "0", "-q").exit_code == 0
    result = cli("graph", tmp_path / "chunks", "-o", tmp_path / "g", "-q")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "g" / "chunks").exists()
    units = pl.read_parquet(tmp_path / "g" / "text_units.parquet")
    assert units["id"].to_list() == pl.read_parquet(tmp_path / "chunks" / "*.parquet")["id"].to_list()


@pytest.mark.parametrize("table", ["entities", "text_units"])
def test_a_full_disk_while_writing_the_tables_is_a_clear_error_without_temporaries(cli: Any, tmp_path: Path, monkeypatch: Any, table: str) -> None:
    """polars' writer (entities, relationships) and pyarrow's (text_units) both fail as an OSError
    the command words; no table is left half-written under a temporary name."""
    import errno

    import pyarrow.parquet as pq_

    src = write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in CORPUS if t])
    real_polars, real_pyarrow = pl.DataFrame.write_parquet, pq_.ParquetWriter.write_table

    def full_polars(self: pl.DataFrame, file: Any, *args: Any, **kwargs: Any) -> None:
        if table == "entities" and ".entities.parquet" in str(file):
            raise pl.exceptions.ComputeError("parquet: underlying IO error: No space left on device (os error 28)")
        real_polars(self, file, *args, **kwargs)

    def full_pyarrow(self: Any, *args: Any, **kwargs: Any) -> None:
        if table == "text_units":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_pyarrow(self, *args, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", full_polars)
    monkeypatch.setattr(pq_.ParquetWriter, "write_table", full_pyarrow)
    result = cli("graph", src, "-o", tmp_path / "g", "-q")
    assert result.exit_code == 1
    assert "no space left on the device of" in result.output and "Traceback" not in result.output
    assert not [p.name for p in (tmp_path / "g").iterdir() if "tmp" in p.name]
    assert not (tmp_path / "g" / f"{table}.parquet").exists()


def test_case_plural_and_possessive_forms_are_one_entity() -> None:
    assert normalise("PostgreSQL") == normalise("POSTGRESQL") == normalise("PostgreSQL's")
    assert normalise("Databases") == normalise("database") and normalise("APIs") == normalise("API")
    g = graph_of(["We use PostgreSQL here.", "It is POSTGRESQL there.", "Both Databases and one Database."])
    assert "POSTGRESQL" not in titles(g) and "PostgreSQL" in titles(g)
    row = g.entities.filter(pl.col("title") == "PostgreSQL").row(0, named=True)
    assert row["frequency"] == 2 and "POSTGRESQL" in row["description"]
    assert len([t for t in titles(g) if t.lower().startswith("database")]) == 1


def test_an_acronym_defined_in_the_text_merges_with_its_expansion() -> None:
    assert acronym_pair("The Generalized Search Tree (GiST)") == ("GiST", "Generalized Search Tree")
    assert acronym_pair("SQL (Structured Query Language)") == ("SQL", "Structured Query Language")
    assert acronym_pair("Some Other Words (GiST)") is None
    g = graph_of(["The Generalized Search Tree (GiST) is old.", "Mostly GiST is lossy, unlike Oracle."])
    row = g.entities.filter(pl.col("title") == "Generalized Search Tree").row(0, named=True)
    assert row["frequency"] == 2 and "GiST" not in titles(g)


def test_a_user_alias_file_merges_names(tmp_path: Path) -> None:
    (tmp_path / "aliases.yaml").write_text("PostgreSQL: [Postgres, PgSQL]\n")
    settings = GraphSettings(aliases=str(tmp_path / "aliases.yaml"))
    g = graph_of(["Postgres runs.", "PgSQL runs.", "PostgreSQL runs."], extractor=settings.rule_extractor())
    assert g.entities.filter(pl.col("frequency") == 3).height == 1
    assert g.entities.height == 1


def test_gazetteer_names_are_found_lowercase_and_typed(tmp_path: Path) -> None:
    (tmp_path / "gaz.tsv").write_text("psql\tPROGRAM\npg_dump\tPROGRAM\n")
    g = graph_of(["Run psql and then pg_dump."], extractor=GraphSettings(gazetteer=str(tmp_path / "gaz.tsv")).rule_extractor())
    assert dict(g.entities.select("title", "type").iter_rows()) == {"psql": "PROGRAM", "pg_dump": "PROGRAM"}


def test_types_from_patterns() -> None:
    g = graph_of(["The Apache Software Foundation and Dr. Smith use shared_buffers, ISO 8601 and postgresql.conf with SQL."])
    types = dict(g.entities.select("title", "type").iter_rows())
    assert types["Apache Software Foundation"] == "ORGANIZATION"
    assert types["shared_buffers"] == "IDENTIFIER" and types["postgresql.conf"] == "FILE" and types["SQL"] == "ACRONYM"


def test_stop_words_are_trimmed_and_sentence_opening_words_dropped() -> None:
    g = graph_of(["Specifies the port. Returns the Oracle value.", "The Oracle answers. Note that Perl is fine."])
    assert titles(g) == {"Oracle", "Perl"}


def test_edges_link_only_mentions_in_the_same_sentence_window() -> None:
    text = ["Alpha Corp met Beta Labs. Then Gamma Inc arrived."]
    assert edges(graph_of(text)) == {frozenset({"Alpha Corp", "Beta Labs"})}
    assert frozenset({"Beta Labs", "Gamma Inc"}) in edges(graph_of(text, EdgeRule(window=1)))


def test_npmi_prunes_a_hub_that_occurs_with_everything() -> None:
    # Hub occurs in every sentence; Anna and Bert occur together (and only together)
    texts = ["Then Hub saw Anna and Bert."] * 5 + [f"Then Hub saw Item{i}." for i in range(40)]
    kept = edges(graph_of(texts, EdgeRule(min_npmi=0.5)))
    assert kept == {frozenset({"Anna", "Bert"})}
    everything = edges(graph_of(texts, EdgeRule(min_npmi=-1.0, max_degree=1000)))
    assert len(everything) == 3 + 40


def test_min_count_and_max_degree() -> None:
    texts = ["Then Star met Moon."] * 3 + [f"Then Star met Planet{i}." for i in range(6)]
    assert edges(graph_of(texts, EdgeRule(min_count=2, min_npmi=-1.0))) == {frozenset({"Star", "Moon"})}
    g = graph_of(texts, EdgeRule(min_npmi=-1.0, max_degree=2))
    assert g.entities["degree"].max() <= 2
    assert frozenset({"Star", "Moon"}) in edges(g)  # the strongest edge of Star survives


def test_graph_statistics() -> None:
    g = graph_of(["Alpha Corp met Beta Labs.", "nothing here", "Gamma Inc."])
    s = g.stats
    assert (s["chunks"], s["entities"], s["relationships"], s["chunks_with_entity"]) == (3, 3, 1, 2)
    assert s["degree_histogram"]["0"] == 1 and s["degree_histogram"]["1"] == 2
    assert [e["title"] for e in s["top_entities"]][:2] == ["Alpha Corp", "Beta Labs"]


def test_the_result_does_not_depend_on_batches() -> None:
    texts = [t for t in CORPUS if t] * 4
    whole = graph_of(texts)
    b = GraphBuilder()
    for i in range(0, len(texts), 3):
        b.add([f"c{j}" for j in range(i, min(i + 3, len(texts)))], pl.Series(texts[i : i + 3], dtype=pl.String))
    parts = b.build()
    assert whole.entities.equals(parts.entities) and whole.relationships.equals(parts.relationships)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window", "-1"], "--window"),
        (["--min-npmi", "2"], "--min-npmi"),
        (["--gazetteer", "missing.tsv"], "--gazetteer: missing.tsv is not a file"),
    ],
)
def test_bad_options_are_one_line_errors(cli: Any, tmp_path: Path, monkeypatch: Any, args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": "Alpha met Beta."}])
    result = cli("graph", src, "-o", tmp_path / "g", *args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


NO_NETWORK = """
import socket
def _refuse(*a, **k):
    raise OSError("network disabled by the test's sitecustomize")
class _NoSocket(socket.socket):
    def __init__(self, *a, **k):
        _refuse()
socket.socket = _NoSocket
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
"""


def test_graph_runs_with_the_network_off(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NO_NETWORK)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    check = subprocess.run([sys.executable, "-c", "import socket; socket.create_connection(('example.org', 80))"], env=env, capture_output=True, text=True)
    assert "network disabled" in check.stderr
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in CORPUS if t])
    cmd = [sys.executable, "-m", "curate", "graph", str(src), "-o", str(tmp_path / "g"), "-w", "1", "-q"]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    assert pl.read_parquet(tmp_path / "g" / "entities.parquet").height > 0


def test_same_input_gives_the_same_tables_with_any_worker_count(cli: Any, tmp_path: Path) -> None:
    rows = [{"text": t} for t in CORPUS if t] * 5
    for i in range(3):  # three files: three read tasks, so several shards
        write_jsonl(tmp_path / "in" / f"part{i}.jsonl", rows[i::3])
    src = tmp_path / "in"
    for w in ("1", "2"):
        assert cli("graph", src, "-o", tmp_path / f"g{w}", "--max-tokens", "24", "--overlap", "4", "-w", w, "-q").exit_code == 0
    for name in GRAPHRAG:
        one = pl.read_parquet(tmp_path / "g1" / f"{name}.parquet")
        two = pl.read_parquet(tmp_path / "g2" / f"{name}.parquet")
        assert one.equals(two), name
    assert len(list((tmp_path / "g1" / "chunks").glob("*.parquet"))) > 1


NAMES = ["Alpha Corp", "Beta", "GiST", "pg_dump", "SQL", "Free Software Foundation", "Zeta Labs", "the", "runs", "and", "with"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(NAMES), min_size=0, max_size=12).map(lambda ws: " ".join(ws) + "."), min_size=0, max_size=12),
    st.integers(0, 2),
    st.integers(1, 4),
)
def test_graph_tables_are_consistent(texts: list[str], window: int, max_degree: int) -> None:
    g = graph_of(texts, EdgeRule(window=window, max_degree=max_degree, min_npmi=-1.0))
    ents, rels, links = g.entities, g.relationships, g.unit_links
    assert ents["id"].is_unique().all() and rels["id"].is_unique().all()
    assert ents["frequency"].to_list() == ents["text_unit_ids"].list.len().to_list()
    titles = set(ents["title"].to_list())
    assert set(rels["source"].to_list()) | set(rels["target"].to_list()) <= titles
    ends = rels["source"].to_list() + rels["target"].to_list()
    assert {t: ends.count(t) for t in titles} == dict(ents.select("title", "degree").iter_rows())
    assert (ents["degree"] <= max_degree).all()
    # the per-chunk links and the tables' text_unit_ids say the same thing
    cid = [f"c{i}" for i in range(len(texts))]
    by_unit = {cid[c]: set(e) for c, e in links.select("chunk", "entity_ids").iter_rows()}
    for eid, units in ents.select("id", "text_unit_ids").iter_rows():
        assert all(eid in by_unit[u] for u in units)
    assert sum(len(v) for v in by_unit.values()) == ents["frequency"].sum()
