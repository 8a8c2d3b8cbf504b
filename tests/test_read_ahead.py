"""``read_ahead``: a reader on its own thread, bounded, in order, failing where it failed."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.io.read_ahead import read_ahead


@given(st.lists(st.integers()), st.integers(min_value=1, max_value=4))
@settings(max_examples=50, deadline=None)
def test_yields_every_item_in_order(items: list[int], depth: int) -> None:
    assert list(read_ahead(iter(items), depth)) == items


def test_an_error_is_raised_after_the_items_before_it() -> None:
    def items():
        yield 1
        yield 2
        raise ValueError("damaged at 3")

    got = []
    with pytest.raises(ValueError, match="damaged at 3"):
        for item in read_ahead(items()):
            got.append(item)
    assert got == [1, 2]


def test_it_reads_on_another_thread() -> None:
    def items():
        yield threading.current_thread().name

    assert next(iter(read_ahead(items(), name="curate-read-test"))) == "curate-read-test"


def test_it_stays_at_most_depth_plus_one_items_ahead() -> None:
    produced = []

    def items():
        for i in range(100):
            produced.append(i)
            yield i

    reader = read_ahead(items(), depth=2)
    assert next(reader) == 0
    time.sleep(0.2)  # room to run ahead
    assert len(produced) <= 1 + 2 + 1  # the one taken, two queued, one being made
    reader.close()


def test_closing_early_stops_the_thread_and_closes_the_reader() -> None:
    closed = threading.Event()

    def items():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    before = {t.name for t in threading.enumerate()}
    reader = read_ahead(items(), name="curate-read-close")
    assert next(reader) == 0
    reader.close()
    assert closed.wait(2)
    assert "curate-read-close" not in {t.name for t in threading.enumerate()} - before
