# Two commands for a newcomer: `make run` (set-up + demo pipeline) and `make test` (set-up + the suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test test-faults lint docs bench bench-dedup bench-dedup-command bench-quality bench-fineweb bench-augment bench-synthetic bench-ray bench-pii bench-decontam bench-select bench-graph bench-html clean

# setup.py builds the compiled kernels (dedup, quality signals, augment): editing their C source reinstalls (seconds).
$(STAMP): pyproject.toml setup.py requirements/lock.txt src/curate/dedup/_native.c src/curate/quality/_native.c src/curate/quality/_ftpredict.c src/curate/augment/_native.c src/curate/select/_native.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/lock.txt -e '.[dev,ray]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/curate run configs/example.yaml

# `make test-faults` runs the whole fault and fuzz suite; `make test` its fast subset (faults_full deselected;
# naming tests/faults loads its conftest in the xdist controller, which prints the suite's summary line).
test: setup
	$(BIN)/python -m pytest -n 2 -q -m "not faults_full" tests tests/faults

test-faults: setup
	$(BIN)/python -m pytest tests/faults -n 2 -q -p no:cacheprovider

lint: setup
	$(BIN)/ruff check src tests benchmarks

docs: setup
	$(BIN)/python -m curate.docs > docs/config-reference.md
	$(BIN)/python -m curate.cli_defaults

bench: setup
	$(BIN)/python benchmarks/bench_backbone.py --docs 1000000 --out benchmarks/RESULTS.md

DEDUP_CORPUS ?= benchmarks/_work/dedup-100k
DATATROVE_VENV := /tmp/dtvenv
# datatrove (a peer in bench-dedup and bench-quality) lives in its own environment: its pins clash with ours.
$(DATATROVE_VENV)/bin/python:
	$(PYTHON) -m venv $(DATATROVE_VENV)
	$(DATATROVE_VENV)/bin/pip install --quiet 'datatrove[processing]==0.10.1' 'spacy==3.8.18' 'pyarrow==26.*' 'orjson>=3.11,<4'

bench-dedup: setup $(DATATROVE_VENV)/bin/python
	$(BIN)/python -m pip install --quiet -c requirements/lock.txt -e '.[bench]'
	test -f $(DEDUP_CORPUS)/truth_removed.parquet || $(BIN)/python benchmarks/dedup/build_corpus.py --docs 100000 --chunk-chars 1200 -o $(DEDUP_CORPUS) $(if $(SOURCE),--source $(SOURCE),)
	$(BIN)/python benchmarks/dedup/run.py $(DEDUP_CORPUS) --methods floor,curate1,curate,rensa,datasketch,datatrove --datatrove-python $(DATATROVE_VENV)/bin/python

# `curate dedup` against a rensa script, whole commands, on the boundary-heavy corpus (issue 12):
# add `DEDUP_COMMAND_OUT=benchmarks/dedup/RESULTS-dedup.md` to append the tables there.
BOUNDARY_CORPUS ?= benchmarks/_work/dedup-boundary-100k
bench-dedup-command: setup
	$(BIN)/python -m pip install --quiet -c requirements/lock.txt -e '.[bench]'
	test -f $(BOUNDARY_CORPUS)/truth_removed.parquet || $(BIN)/python benchmarks/dedup/build_boundary_corpus.py --docs 100000 --seed 0 -o $(BOUNDARY_CORPUS)
	$(BIN)/python benchmarks/dedup/bench_command.py $(BOUNDARY_CORPUS) --runs 3 $(if $(DEDUP_COMMAND_OUT),--out $(DEDUP_COMMAND_OUT),)

# HTML extraction (issue 16): the PostgreSQL manual's pages (Debian's postgresql-doc-15, installed here when
# missing: a benchmark input, never a run-time download) packed into a WARC; speed and word precision/recall
# of each extractor and the union. Table in benchmarks/html/RESULTS-table.md, read in RESULTS-html.md.
bench-html: setup
	$(BIN)/python -m pip install --quiet -c requirements/lock.txt -e '.[bench,html]'
	test -d /usr/share/doc/postgresql-doc-15/html || apt-get install -y --no-install-recommends postgresql-doc-15
	$(BIN)/python benchmarks/html/bench_html.py --rounds 3 --out benchmarks/html/RESULTS-table.md

bench-quality: setup $(DATATROVE_VENV)/bin/python
	$(BIN)/python benchmarks/quality/throughput.py --docs 100000 --datatrove-python $(DATATROVE_VENV)/bin/python --dt-docs 2000 $(if $(CORPUS),--corpus $(CORPUS),)

# FineWeb's heuristic chain, whole commands side by side: curate filter --preset fineweb vs datatrove 0.10.1 (real text: CORPUS)
bench-fineweb: setup $(DATATROVE_VENV)/bin/python
	$(BIN)/python benchmarks/quality/fineweb_chain.py --corpus $(or $(CORPUS),../shared/data/real_docs.parquet) --docs 20000 --workers 1 --rounds 3 --datatrove-python $(DATATROVE_VENV)/bin/python

bench-augment: setup
	$(BIN)/python benchmarks/augment/bench_augment.py --docs 100000 --repeats 5 --requests 2000 --out benchmarks/augment/RESULTS-augment.md

bench-synthetic: setup
	$(BIN)/python benchmarks/augment/bench_synthetic.py --requests 2000 --repeats 3 --out benchmarks/augment/RESULTS-synthetic.md

bench-ray: setup
	$(BIN)/python benchmarks/bench_ray.py --docs 1000000 --runs 3 --memory-runs 1 --out benchmarks/RESULTS.md

# Issue 13: PII detection and benchmark decontamination, accuracy and speed on real text with planted values/items.
# SOURCE is a Parquet file of real documents (id, text, source); corpora are cached under benchmarks/_work/.
PROTECT_SOURCE ?= $(or $(SOURCE),/work/shared/data/real_docs.parquet)
PII_CORPUS ?= benchmarks/_work/pii-100k
bench-pii: setup $(DATATROVE_VENV)/bin/python
	test -f $(PII_CORPUS)/truth.parquet || $(BIN)/python benchmarks/pii/build_pii_corpus.py --docs 100000 --seed 0 --source $(PROTECT_SOURCE) -o $(PII_CORPUS)
	$(BIN)/python benchmarks/pii/bench_pii.py $(PII_CORPUS) --runs 3 --real $(PROTECT_SOURCE) --real-docs 20000 --sample-out benchmarks/pii/real-text-sample.md --out benchmarks/pii/RESULTS-pii.md

DECONTAM_CORPUS ?= benchmarks/_work/decontam-100k
bench-decontam: setup $(DATATROVE_VENV)/bin/python
	test -f $(DECONTAM_CORPUS)/truth.parquet || $(BIN)/python benchmarks/decontam/build_decontam_corpus.py --docs 100000 --seed 0 --source $(PROTECT_SOURCE) -o $(DECONTAM_CORPUS)
	$(BIN)/python benchmarks/decontam/bench_decontam.py $(DECONTAM_CORPUS) --runs 3 --out benchmarks/decontam/RESULTS-decontam.md

clean:
	rm -rf .curate out .pytest_cache

# Selection towards a target domain (issue 14): random, fastText top-k, DSIR and learnability at
# 1/5/20 % token budgets, held-out cross-entropy; then DSIR whole commands against `data-selection`.
DSIR_VENV := /tmp/dsvenv
$(DSIR_VENV)/bin/python:
	$(PYTHON) -m venv $(DSIR_VENV)
	$(DSIR_VENV)/bin/pip install --quiet 'data-selection==1.0.3'

GRAPHRAG_VENV := /tmp/grvenv
# graphrag (its readers load `curate graph` output in bench-graph) lives in its own environment: a large dependency tree.
$(GRAPHRAG_VENV)/bin/python:
	$(PYTHON) -m venv $(GRAPHRAG_VENV)
	$(GRAPHRAG_VENV)/bin/pip install --quiet 'graphrag==3.3.0'

bench-graph: setup $(GRAPHRAG_VENV)/bin/python
	$(BIN)/python benchmarks/graph/bench_graph.py --rounds 3 --json benchmarks/graph/results.json --graphrag-python $(GRAPHRAG_VENV)/bin/python

bench-select: setup $(DSIR_VENV)/bin/python
	$(BIN)/python -m pip install --quiet -c requirements/lock.txt -e '.[bench]'
	$(BIN)/python benchmarks/select/run.py --out benchmarks/select/RESULTS-select.md
	$(BIN)/python benchmarks/select/dsir_speed.py --peer-python $(DSIR_VENV)/bin/python --runs 3 --out benchmarks/select/RESULTS-select.md
