"""The ``selection`` table (target vs achieved per source) from a select step's counters.

The stage counts once, in its resolve, per source ``s``: ``select_in_docs:s``,
``select_eligible_docs:s``, ``select_kept_docs:s`` (documents kept), ``select_docs:s`` (kept,
counted with their repeats), ``select_max_repeats:s``, and where token counts are known
``select_in_tokens:s`` and ``select_tokens:s`` (with repeats); ``select_target:s`` per mixture
source, ``select_target`` without a mixture, ``select_short[:s]`` when a shortfall was allowed,
and ``select_achieved`` (the total in the unit). Counters merge by ``+``, which drops zeros, so
a missing counter reads as 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_METRICS = ("in_docs", "eligible_docs", "kept_docs", "docs", "max_repeats", "in_tokens", "tokens")


def selection_table(config: Mapping[str, Any], counters: Mapping[str, int]) -> dict[str, Any]:
    """Unit, total target and achieved, and per source: target, achieved, shares and counts."""
    unit = str(config.get("unit") or "documents")
    mixture: Mapping[str, float] = config.get("mixture") or {}
    sources = sorted({k.split(":", 1)[1] for k in counters if k.startswith("select_in_docs:")} | set(mixture))
    tokens_known = unit == "tokens" or any(k.startswith("select_in_tokens:") for k in counters)
    if mixture:
        total: int | None = sum(int(counters.get(f"select_target:{s}", 0)) for s in mixture)
    else:
        total = int(counters["select_target"]) if "select_target" in counters else None
    achieved = int(counters.get("select_achieved", 0))
    rows: dict[str, dict[str, Any]] = {}
    for s in sources:
        row: dict[str, Any] = {m: int(counters.get(f"select_{m}:{s}", 0)) for m in _METRICS}
        if not tokens_known:
            row["in_tokens"] = row["tokens"] = None
        got = row["tokens"] if unit == "tokens" else row["docs"]
        target = int(counters.get(f"select_target:{s}", 0)) if mixture else None
        row = {
            "target": target,
            "achieved": got,
            "weight": float(mixture[s]) if s in mixture else (0.0 if mixture else None),
            "share": round(got / achieved, 6) if achieved and got is not None else 0.0,
            "within_tolerance": _within(target, got, unit, config) if target is not None else None,
            "short": int(counters.get(f"select_short:{s}", 0)),
            **row,
        }
        rows[s] = row
    return {
        "unit": unit,
        "target": total,
        "achieved": achieved,
        "within_tolerance": _within(total, achieved, unit, config) if total is not None else None,
        "short": int(counters.get("select_short", 0)) + sum(r["short"] for r in rows.values()),
        "upsampled_docs": int(counters.get("select_upsampled_docs", 0)),
        "sources": rows,
    }


def _within(target: int, got: int | None, unit: str, config: Mapping[str, Any]) -> bool:
    """Met: documents exactly, tokens within ``tolerance`` below (never above)."""
    if got is None:
        return False
    tolerance = float(config.get("tolerance", 0.005)) if unit == "tokens" else 0.0
    return target - int(tolerance * target) <= got <= target


def selection_card_lines(step: Mapping[str, Any], table: Mapping[str, Any]) -> list[str]:
    """Markdown for the dataset card: the selection and, when documents repeat, how to load them."""
    config = step.get("config", {})
    unit = table["unit"]
    how = config.get("method", "top_k")
    score = config.get("score")
    size = next((f"{k} {config[k]:,}" if k != "fraction" else f"fraction {config[k]}" for k in ("k", "fraction", "budget") if config.get(k) is not None), "every eligible document")
    lines = ["## Selection", "", f"Step `{step.get('folder')}`: method `{how}`, score `{score or 'none (seeded random order)'}`, {size} ({unit}), max_epochs {config.get('max_epochs', 1)}."]
    target = "-" if table["target"] is None else f"{table['target']:,}"
    lines += ["", f"Target {target} {unit}, achieved {table['achieved']:,} {unit}.", ""]
    lines += [f"| source | weight | target ({unit}) | achieved ({unit}) | share | documents in | documents kept | kept with repeats | tokens kept | max repeats |"]
    lines += ["| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in table["sources"].items():
        weight = "-" if r["weight"] is None else f"{r['weight']:g}"
        tgt = "-" if r["target"] is None else f"{r['target']:,}"
        tokens = "-" if r["tokens"] is None else f"{r['tokens']:,}"
        lines.append(
            f"| {name} | {weight} | {tgt} | {(r['achieved'] or 0):,} | {r['share']:.4f} | {r['in_docs']:,} | {r['kept_docs']:,} | {r['docs']:,} | {tokens} | {r['max_repeats']} |"
        )
    if table["short"]:
        lines += ["", f"Short of the target by {table['short']:,} {unit} (shortfall: allow; the pool ran out at max_epochs)."]
    if table["upsampled_docs"]:
        lines += [
            "",
            f"{table['upsampled_docs']:,} upsampled documents appear once, with `select_repeats` = how many times they count; "
            "repeat them when training, e.g. `table.take(np.repeat(np.arange(table.num_rows), table['select_repeats']))`.",
        ]
    lines.append("")
    return lines
