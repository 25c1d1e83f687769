# Two entry points for a fresh clone: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast lint typecheck bench bench-query clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed  ## run the tracker offline on bundled real feeds; keeps its files in tracker-demo/
	$(BIN)/tracker demo --keep tracker-demo

test: $(VENV)/.installed  ## lint, type-check, then the whole test suite (slow loops included)
	$(BIN)/ruff check tracker tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

typecheck: $(VENV)/.installed  ## mypy over tracker/, as configured in pyproject.toml
	$(BIN)/mypy

test-fast: $(VENV)/.installed  ## the suite without the slow loops
	$(BIN)/pytest -q -m "not slow"

$(VENV)-bench/bin/python:  ## lemon24/reader in a virtual environment of its own, for bench/pipeline.py
	$(PYTHON) -m venv $(VENV)-bench
	$(VENV)-bench/bin/pip install --quiet "reader==3.26" sgmllib3k

bench: $(VENV)/.installed $(VENV)-bench/bin/python  ## polling cost: tracker, reader, bare feedparser
	$(BIN)/python bench/pipeline.py --reader-python $(VENV)-bench/bin/python

bench-query: $(VENV)/.installed  ## query times at 10k and 1M items (builds ~2 GB in /tmp, ~3 min)
	$(BIN)/python bench/query.py

clean:
	rm -rf $(VENV) $(VENV)-bench .pytest_cache .ruff_cache
