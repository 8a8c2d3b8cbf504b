"""The PII and contamination tables: regrouped from a step's counters for the manifest and the card."""

from __future__ import annotations

from curate.protection import card_lines, step_tables

PII_COUNTERS = {"pii_email": 3, "pii_docs_email": 2, "pii_vetoed_phone": 4, "pii_invalid_phone": 1, "pii_badge": 1, "pii_docs_badge": 1}


def test_pii_table_lists_every_configured_type_custom_ones_included() -> None:
    tables = step_tables("pii", {"types": ["email", "phone"], "custom": {"badge": "B-\\d+"}}, PII_COUNTERS)
    assert tables == {
        "pii": {
            "email": {"found": 3, "documents": 2, "vetoed": 0, "invalid": 0},
            "phone": {"found": 0, "documents": 0, "vetoed": 4, "invalid": 1},
            "badge": {"found": 1, "documents": 1, "vetoed": 0, "invalid": 0},
        }
    }


def test_contamination_table_has_a_row_per_eval_set_even_without_hits() -> None:
    counters = {"decontam_items_a": 5, "decontam_items_hit_a": 2, "decontam_docs_a": 3, "decontam_chars_removed_a": 900, "decontam_items_b": 7, "decontam_items_too_short_b": 1, "decontam_index_ngrams": 40}
    tables = step_tables("decontaminate", {"evals": [{"name": "a"}, {"name": "b"}]}, counters)
    assert tables is not None and tables["index_ngrams"] == 40
    assert tables["contamination"]["b"] == {"items": 7, "items_too_short": 1, "items_hit": 0, "documents": 0, "chars_removed": 0}


def test_card_prints_the_policy_of_each_type_and_skips_other_steps() -> None:
    steps = [
        {"stage": "exact_dedup", "config": {}, "counts": {"counters": {"pii_email": 9}}},
        {"stage": "pii", "folder": "02_pii", "config": {"types": ["email", "phone"], "policy": {"email": "pseudonym"}, "default_policy": "mask"}, "counts": {"counters": PII_COUNTERS}},
    ]
    lines = card_lines(steps)
    assert "| email | 3 | 2 | pseudonym | 0 | 0 |" in lines and "| phone | 0 | 0 | mask | 4 | 1 |" in lines
    assert sum(line.startswith("## ") for line in lines) == 1
