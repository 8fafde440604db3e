# The two commands the README promises: `make run` and `make test`. Each builds its own
# virtual environment on first use, pinned by constraints.txt.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --disable-pip-version-check -q -c constraints.txt
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed
PY_SOURCES := $(wildcard src tests bench tools)

.PHONY: run test lint format bench clean dashboard

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
	@test -x /usr/bin/chromium || echo "--- no /usr/bin/chromium: the dashboard's browser tests are skipped (apt-get install chromium, Debian's package)"
	$(BIN)/pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)
	$(BIN)/mypy --strict src
	$(BIN)/mypy --strict bench/detect_throughput.py bench/throughput bench/loadtest bench/clusters.py bench/stream.py bench/export.py
	$(BIN)/lint-imports

format: $(DEV_STAMP)
	$(BIN)/ruff check --fix $(PY_SOURCES)
	$(BIN)/ruff format $(PY_SOURCES)

bench: $(DEV_STAMP)
	$(BIN)/python bench/detect_throughput.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# The dashboard's front-end libraries: installed from dashboard/package-lock.json (npm ci,
# no install scripts run), then their dist files and licences are copied into the package,
# where they are committed, so `make run` needs no npm. Run it after changing a version in
# dashboard/package.json (and `npm install` there to update the lock).
VENDOR := src/roadhazard/dashboard/static/vendor
NODE_MODULES := dashboard/node_modules
dashboard:
	cd dashboard && npm ci --ignore-scripts --no-audit --no-fund
	rm -rf $(VENDOR)/leaflet $(VENDOR)/uplot
	mkdir -p $(VENDOR)/leaflet/images $(VENDOR)/uplot
	cp $(NODE_MODULES)/leaflet/dist/leaflet-src.esm.js $(NODE_MODULES)/leaflet/dist/leaflet.css \
	    $(NODE_MODULES)/leaflet/LICENSE $(VENDOR)/leaflet/
	cp $(NODE_MODULES)/leaflet/dist/images/*.png $(VENDOR)/leaflet/images/
	cp $(NODE_MODULES)/uplot/dist/uPlot.esm.js $(NODE_MODULES)/uplot/dist/uPlot.min.css \
	    $(NODE_MODULES)/uplot/LICENSE $(VENDOR)/uplot/

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

# WebSocket frame streams (issue 14): 8 dashcams at 5 fps for 10 minutes against `roadhazard
# serve`; STREAM_ARGS='--duration 60' for a short check.
.PHONY: bench-stream
bench-stream: $(DEV_STAMP)
	$(BIN)/python bench/stream.py $(STREAM_ARGS)
