# Two commands for a newcomer: `make run` (set-up + demo pipeline) and `make test` (set-up + the suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint docs bench clean

$(STAMP): pyproject.toml requirements/lock.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/lock.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/curate run configs/example.yaml

test: setup
	$(BIN)/python -m pytest -n 2 -q

lint: setup
	$(BIN)/ruff check src tests benchmarks

docs: setup
	$(BIN)/python -m curate.docs > docs/config-reference.md

bench: setup
	$(BIN)/python benchmarks/bench_backbone.py --docs 1000000 --out benchmarks/RESULTS.md

clean:
	rm -rf .curate out .pytest_cache
