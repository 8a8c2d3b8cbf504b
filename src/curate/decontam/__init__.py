"""Benchmark decontamination: eval sets the user gives, an n-gram index of them, and the cuts.

``evalsets`` reads eval files (JSON Lines, Parquet, CSV) into items; ``index`` hashes their word
n-grams into a sorted table and finds them in documents (the kernel is in ``curate.dedup._native``,
beside the MinHash tokeniser it shares); ``spans`` cuts matched windows out of a text.
"""
