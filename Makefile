# The two commands the README promises: `make run` and `make test`. Each builds its own
# virtual environment on first use, pinned by constraints.txt.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --disable-pip-version-check -q -c constraints.txt
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed
PY_SOURCES := $(wildcard src tests bench tools)

.PHONY: run test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e .
	touch $@

$(DEV_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e '.[dev]'
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/roadhazard serve

test: $(DEV_STAMP)
	$(BIN)/pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)
	$(BIN)/mypy --strict src
	$(BIN)/mypy --strict bench/detect_throughput.py bench/throughput bench/loadtest bench/clusters.py
	$(BIN)/lint-imports

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix $(PY_SOURCES)
	$(BIN)/ruff format $(PY_SOURCES)

bench: $(DEV_STAMP)
	$(BIN)/python bench/detect_throughput.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Mutation testing of the critical modules ([tool.mutmut] in pyproject.toml). Not in CI: it
# runs the detection, reports and sessions tests once per mutant. MUTANTS narrows it to some
# modules, e.g. `make mutate MUTANTS='roadhazard.reports.states.*'`.
.PHONY: mutate
mutate: $(DEV_STAMP)
	$(BIN)/mutmut run $(MUTANTS)
	$(BIN)/mutmut results

.PHONY: loadtest
loadtest: $(DEV_STAMP)
	$(BIN)/python bench/loadtest $(LOADTEST_ARGS)
