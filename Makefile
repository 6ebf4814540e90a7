# openecon — `make demo` runs the main job, `make test` runs the tests.
# Both install what they need: Debian packages (scripts/install-system-packages.sh)
# and the Python environment in .venv from requirements.lock.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
UV := UV_PYTHON_DOWNLOADS=never $(BIN)/uv
STAMP := $(VENV)/.installed
# Browser files the GX Data Docs load, vendored so they open offline (expectations/offline_docs.py).
WEB_ASSETS := expectations/web_assets
WEB_STAMP := $(WEB_ASSETS)/node_modules/.installed

.PHONY: help install sysdeps demo test test-fast lint lock db-start db-stop airflow compose-config clean bench-ingest bench-intake bench-build bench-month bench-airflow-dbt

help:
	@echo "make demo     run the pipeline end to end on the embedded Postgres"
	@echo "make test     lint + layer contract, then the test suite (unit, integration, Airflow e2e)"
	@echo "make lint     ruff (pyproject [tool.ruff]) and the import-linter layer contract"
	@echo "make bench-ingest  trade ingest vs bare COPY vs to_sql on a 1 M-row file"
	@echo "make bench-intake  one ingest of a hostile folder (+ a 1 M-row file): receipts, peak RSS, slowest rejection"
	@echo "make bench-build   incremental month on 1 vs 5 years of history, full refresh, BI latency"
	@echo "make bench-month   the monthly cycle at scale 10 (2.3 M trade rows a month), stage by stage vs anchors"
	@echo "make bench-airflow-dbt  one dbt-build task vs cosmos-rendered dbt tasks: parse and run time"
	@echo "make airflow  Airflow UI (airflow standalone) on the embedded Postgres; prints URL and login"
	@echo "make lock     re-resolve requirements.lock from pyproject.toml"
	@echo "make clean    remove .openecon/ state and output/"

# Bytecode is compiled here because the environment may forbid Python to write it
# (PYTHONDONTWRITEBYTECODE): without it every process compiles its imports again, about 1.5 s
# of each `openecon ingest`, dbt or Airflow task start. Unchanged files are skipped.
PACKAGES := core ingestion expectations reports samples flows orchestration portal openecon dags
install: $(STAMP) $(WEB_STAMP)
	@$(BIN)/python -m compileall -q -j 0 $(PACKAGES) > /dev/null

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
	  || { echo "Python 3.11 is required (found $(PYTHON)); set PYTHON=/path/to/python3.11"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip install -q --python $(BIN)/python -r requirements.lock
	@# compat: the project's folder on sys.path by a plain .pth line; the default editable mode
	@# imports a module finder (and what it needs) at the start of every Python process.
	$(UV) pip install -q --python $(BIN)/python --no-deps -e . --config-settings editable_mode=compat
	@# Some packages ship files that are not Python 3.11 (templates, other versions' tests):
	@# compileall reports them and exits 1, which is expected.
	@$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || true
	@touch $@

$(WEB_STAMP): $(WEB_ASSETS)/package-lock.json $(WEB_ASSETS)/package.json | sysdeps
	cd $(WEB_ASSETS) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

sysdeps:
	@scripts/install-system-packages.sh

demo: install sysdeps
	$(BIN)/openecon demo

# The linter and the layer contract first: an upward import fails the build before any test runs.
lint: install
	$(BIN)/ruff check --output-format concise .
	$(BIN)/lint-imports

# Two workers (pytest-xdist), a test module each at a time: every worker has its own embedded
# Postgres and Airflow home (tests/conftest.py), so modules share a warehouse only within a worker.
# Most of a test's time is waiting on subprocesses (dbt, Airflow, Postgres), so two workers on
# two cores take about 13 minutes where one took 30-38.
TEST_WORKERS ?= 2
test: install sysdeps lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

test-fast: install
	$(BIN)/pytest -m "not pg and not e2e"

bench-ingest: install sysdeps
	$(BIN)/python benchmarks/bench_ingest.py

# samples/hostile.py's folder through one `/usr/bin/time -v openecon ingest` (GNU time from sysdeps).
bench-intake: install sysdeps
	$(BIN)/python benchmarks/bench_intake.py

bench-build: install sysdeps
	$(BIN)/python benchmarks/bench_build.py

# About half an hour on 2 cores (1 and 3 years of history; the samples, ~27 GB, are kept in .openecon/bench/).
bench-month: install sysdeps
	$(BIN)/python benchmarks/bench_month.py

lock:
	@test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install -q uv==$(UV_VERSION); }
	$(UV) pip compile pyproject.toml --python-version 3.11 --extra dev --no-header --generate-hashes -o requirements.lock

bench-airflow-dbt: install sysdeps
	$(BIN)/python benchmarks/bench_dbt_airflow.py

# Airflow UI with the project's DAGs (LocalExecutor) on http://127.0.0.1:$${OPENECON_AIRFLOW_PORT:-8080};
# Ctrl-C stops every component.
airflow: install sysdeps
	$(BIN)/openecon airflow

db-start: install sysdeps
	$(BIN)/openecon db start

db-stop: install
	$(BIN)/openecon db stop

compose-config:
	@scripts/check-compose.sh

clean:
	-$(BIN)/openecon db stop
	rm -rf .openecon output
