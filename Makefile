# Two entry points for a fresh clone: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast lint bench bench-query clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed  ## run the tracker offline on bundled real feeds; keeps its files in tracker-demo/
	$(BIN)/tracker demo --keep tracker-demo

test: $(VENV)/.installed  ## lint, then the whole test suite (slow loops included)
	$(BIN)/ruff check tracker tests bench
	$(BIN)/pytest -q

test-fast: $(VENV)/.installed  ## the suite without the slow loops
	$(BIN)/pytest -q -m "not slow"

bench: $(VENV)/.installed
	$(BIN)/python bench/pipeline.py

bench-query: $(VENV)/.installed  ## query times at 10k and 1M items (builds ~2 GB in /tmp, ~3 min)
	$(BIN)/python bench/query.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
