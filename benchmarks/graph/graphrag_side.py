"""Runs in graphrag's own venv: loads a `curate graph` output folder with graphrag's readers.

Usage: GRAPHRAG_PYTHON benchmarks/graph/graphrag_side.py GRAPH_FOLDER

Reads entities, relationships and text_units through graphrag's ``DataReader`` over a
``ParquetTableProvider`` (the path ``graphrag query`` takes), checks graphrag's final column lists,
and turns the rows into graphrag's query-time objects (``read_indexer_entities``,
``read_indexer_relationships``, ``read_indexer_text_units``). Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
from importlib.metadata import version

import pandas as pd
from graphrag.data_model.data_reader import DataReader
from graphrag.data_model.schemas import (
    ENTITIES_FINAL_COLUMNS,
    RELATIONSHIPS_FINAL_COLUMNS,
    TEXT_UNITS_FINAL_COLUMNS,
)
from graphrag.query.indexer_adapters import (
    read_indexer_entities,
    read_indexer_relationships,
    read_indexer_text_units,
)
from graphrag_storage.file_storage import FileStorage
from graphrag_storage.tables.parquet_table_provider import ParquetTableProvider

OPTIONAL_TEXT_UNIT_COLUMNS = {"conversation_id", "turn_index", "turn_timestamp", "turn_role"}


async def main(folder: str) -> dict[str, object]:
    reader = DataReader(ParquetTableProvider(FileStorage(base_dir=folder)))
    entities = await reader.entities()
    relationships = await reader.relationships()
    units = await reader.text_units()
    missing = {
        "entities": [c for c in ENTITIES_FINAL_COLUMNS if c not in entities.columns],
        "relationships": [c for c in RELATIONSHIPS_FINAL_COLUMNS if c not in relationships.columns],
        "text_units": [c for c in TEXT_UNITS_FINAL_COLUMNS if c not in units.columns and c not in OPTIONAL_TEXT_UNIT_COLUMNS],
    }
    communities = pd.DataFrame({"community": pd.Series(dtype=int), "level": pd.Series(dtype=int), "entity_ids": pd.Series(dtype=object)})
    ent_objs = read_indexer_entities(entities, communities, community_level=None)
    rel_objs = read_indexer_relationships(relationships)
    unit_objs = read_indexer_text_units(units)
    titles = {e.title for e in ent_objs}
    return {
        "graphrag": version("graphrag"),
        "missing_columns": missing,
        "entities": len(ent_objs),
        "relationships": len(rel_objs),
        "text_units": len(unit_objs),
        "edge_ends_are_entities": all(r.source in titles and r.target in titles for r in rel_objs),
        "unit_entity_links": sum(len(u.entity_ids or []) for u in unit_objs),
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
