"""The diff's added / removed / kept counts, per source and in all, against a reference in Python sets."""

from __future__ import annotations

from collections import Counter

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.reporting.diff import _keyed, _membership

SOURCES = st.sampled_from(["web", "books", "code", None])
RELEASE = st.dictionaries(st.integers(0, 60).map(lambda i: f"doc-{i}"), SOURCES, max_size=40)


def _frame(release: dict[str, str | None]) -> pl.DataFrame:
    return _keyed(pl.DataFrame({"id": list(release), "source": list(release.values())}, schema={"id": pl.String, "source": pl.String}))


def _reference(old: dict[str, str | None], new: dict[str, str | None]) -> tuple[dict[str, dict[str, int]], dict[str, int], set[str]]:
    per: dict[str, Counter[str]] = {}
    for i in old.keys() | new.keys():
        # the new release's source, else the old one's; no source at all is not listed per source
        source = new.get(i) if new.get(i) is not None else old.get(i)
        c = per.setdefault(source or "", Counter())
        c["old"] += i in old
        c["new"] += i in new
        c["added"] += i in new and i not in old
        c["removed"] += i in old and i not in new
        c["kept"] += i in old and i in new
    by_source = {s: {k: c[k] for k in ("old", "new", "added", "removed", "kept")} for s, c in sorted(per.items()) if s}
    kept = len(old.keys() & new.keys())
    totals = {"in_old": len(old), "in_new": len(new), "added": len(new) - kept, "removed": len(old) - kept, "kept": kept}
    return by_source, totals, old.keys() - new.keys()


@settings(max_examples=150, deadline=None)
@given(RELEASE, RELEASE)
def test_counts_equal_a_set_reference_for_any_two_releases(old: dict[str, str | None], new: dict[str, str | None]) -> None:
    by_source, totals, removed_keys = _membership(_frame(old), _frame(new))
    want_by_source, want_totals, want_removed = _reference(old, new)
    assert by_source == want_by_source
    assert totals == want_totals
    removed = _frame({i: old[i] for i in want_removed}).get_column("key")
    assert sorted(removed_keys.get_column("key").to_list()) == sorted(removed.to_list())


def test_a_release_against_itself_keeps_every_document() -> None:
    release = {f"d{i}": ("a" if i % 3 else "b") for i in range(100)}
    by_source, totals, removed = _membership(_frame(release), _frame(release))
    assert totals == {"in_old": 100, "in_new": 100, "added": 0, "removed": 0, "kept": 100}
    assert by_source == {"a": dict.fromkeys(("old", "new", "kept"), 66) | {"added": 0, "removed": 0},
                         "b": dict.fromkeys(("old", "new", "kept"), 34) | {"added": 0, "removed": 0}}
    assert removed.height == 0
