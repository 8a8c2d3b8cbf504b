"""Selection helpers for the ``select`` stage: budgets, quota apportionment, the quota walk, the report.

``quota.py`` holds the pure numpy rules (no polars, no I/O) that decide how many times each
ranked document is taken; ``report.py`` turns the stage's counters into the ``selection`` table
of the step manifest and the dataset card.
"""
