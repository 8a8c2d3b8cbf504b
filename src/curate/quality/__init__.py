"""Quality signals: published heuristics, fastText classifiers and language identification."""
