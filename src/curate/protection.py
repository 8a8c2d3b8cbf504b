"""Per-type PII, per-benchmark contamination and per-source token tables, from a step's counters.

The ``pii`` and ``decontaminate`` stages count per shard (and, for decontamination, in the global
resolve); the manifest sums those counters. These tables regroup them the way a reader asks:
for each eval set, how many items were found, in how many documents, and how many characters
left the data; for each PII type, how many values were found, in how many documents, and how
many look-alikes were turned down; for each source, how many tokens the ``tokens`` stage counted.
The step manifest carries them, the dataset card prints them. A ``select`` step's table (target
vs achieved per source) is built in ``curate.select.report``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

_DECONTAM = {
    "items": "decontam_items_",
    "items_too_short": "decontam_items_too_short_",
    "items_hit": "decontam_items_hit_",
    "documents": "decontam_docs_",
    "chars_removed": "decontam_chars_removed_",
}
_PII = {"documents": "pii_docs_", "vetoed": "pii_vetoed_", "invalid": "pii_invalid_"}


def contamination_table(counters: Mapping[str, int], names: list[str]) -> dict[str, dict[str, int]]:
    """Eval set -> items, items_too_short, items_hit, documents, chars_removed."""
    return {name: {col: int(counters.get(prefix + name, 0)) for col, prefix in _DECONTAM.items()} for name in names}


def pii_table(counters: Mapping[str, int], types: list[str]) -> dict[str, dict[str, int]]:
    """PII type -> found, documents, vetoed (context vetoes), invalid (failed validation)."""
    return {
        t: {"found": int(counters.get(f"pii_{t}", 0)), **{col: int(counters.get(prefix + t, 0)) for col, prefix in _PII.items()}}
        for t in types
    }


def _pii_types(config: Mapping[str, Any], counters: Mapping[str, int]) -> list[str]:
    types = list(config.get("types") or [])
    types += [name for name in (config.get("custom") or {}) if name not in types]
    if not types:  # a config without the list: every type that was counted
        skip = tuple(_PII.values())
        types = sorted({k[4:] for k in counters if k.startswith("pii_") and not k.startswith(skip)})
    return types


def token_table(config: Mapping[str, Any], counters: Mapping[str, int]) -> dict[str, Any]:
    """Tokenizer, column, total and tokens per source counted by a ``tokens`` step."""
    prefix = "tokens_source_"
    return {
        "tokenizer": config.get("tokenizer"),
        "column": config.get("column", "token_count"),
        "total": int(counters.get("tokens_total", 0)),
        "by_source": {k[len(prefix):]: int(v) for k, v in sorted(counters.items()) if k.startswith(prefix)},
    }


def step_tables(kind: str, config: Mapping[str, Any], counters: Mapping[str, int]) -> dict[str, Any] | None:
    """The table a step's manifest carries beside its counts (None for other stages)."""
    if kind == "tokens":
        return {"tokens": token_table(config, counters)}
    if kind == "decontaminate":
        names = [e["name"] for e in config.get("evals", [])]
        return {"contamination": contamination_table(counters, names), "index_ngrams": int(counters.get("decontam_index_ngrams", 0)), "index_bytes": int(counters.get("decontam_index_bytes", 0))}
    if kind == "pii":
        return {"pii": pii_table(counters, _pii_types(config, counters))}
    if kind == "select":
        from curate.select.report import selection_table

        return {"selection": selection_table(config, counters)}
    return None


def card_lines(steps: list[Mapping[str, Any]]) -> list[str]:
    """Markdown for the dataset card: one table per pii, decontaminate or tokens step."""
    lines: list[str] = []
    for step in steps:
        kind, config, counters = step.get("stage"), step.get("config", {}), step.get("counts", {}).get("counters", {})
        tables = step_tables(str(kind), config, counters)
        if not tables:
            continue
        if kind == "select":
            from curate.select.report import selection_card_lines

            lines += selection_card_lines(step, tables["selection"])
            continue
        if kind == "tokens":
            table = tables["tokens"]
            tokenizer = f"file `{Path(str(config.get('path'))).name}`" if table["tokenizer"] == "file" else f"`{table['tokenizer']}`"
            lines += ["## Tokens counted", "", f"Step `{step.get('folder')}`, tokenizer {tokenizer}, column `{table['column']}`: {table['total']:,} tokens in the {step.get('counts', {}).get('docs_in', 0):,} documents it saw, before any later step removed some.", ""]
            lines += ["| source | tokens |", "| --- | ---: |"]
            lines += [f"| {name} | {n:,} |" for name, n in sorted(table["by_source"].items(), key=lambda kv: (-kv[1], kv[0]))]
        elif kind == "decontaminate":
            lines += ["## Benchmark contamination", "", f"Step `{step.get('folder')}`, mode `{config.get('mode')}`, {config.get('ngram')}-grams.", ""]
            lines += ["| eval set | items | too short to match | items found | documents touched | characters removed |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
            for name, row in tables["contamination"].items():
                lines.append(f"| {name} | {row['items']:,} | {row['items_too_short']:,} | {row['items_hit']:,} | {row['documents']:,} | {row['chars_removed']:,} |")
        else:
            policy = config.get("policy") or {}
            default = config.get("default_policy", "")
            lines += ["## Personal data", "", f"Step `{step.get('folder')}`.", ""]
            lines += ["| type | found | documents | policy | vetoed by context | failed validation |", "| --- | ---: | ---: | --- | ---: | ---: |"]
            for name, row in tables["pii"].items():
                lines.append(f"| {name} | {row['found']:,} | {row['documents']:,} | {policy.get(name, default)} | {row['vetoed']:,} | {row['invalid']:,} |")
        lines.append("")
    return lines
