# The two commands of the README (demo, test), and the Dagster UI on the demo's data.
# `make test` runs the tooling first (ruff lint and format, the import contracts), then the
# suite; `make quick` is the same with the suite minus the tests marked `slow`.
# Each creates the virtual environment on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DEMO_ROOT := $(CURDIR)/var/demo

# `make demo` and `make dev` share one Dagster instance and the demo's warehouse,
# inbox and exports, so the UI shows the demo's runs. The partitions start at the
# demo's first month (override MONITOR_FIRST_MONTH for a real deployment).
DEMO_ENV := DAGSTER_HOME=$(CURDIR)/var/dagster_home \
	MONITOR_INBOX=$(DEMO_ROOT)/inbox MONITOR_WAREHOUSE=$(DEMO_ROOT)/warehouse.duckdb \
	MONITOR_EXPORTS=$(DEMO_ROOT)/exports MONITOR_FIRST_MONTH=$${MONITOR_FIRST_MONTH:-2026-07-01} \
	VIRTUAL_ENV=$(CURDIR)/$(VENV)

.PHONY: demo test quick lint install dev instance screenshots dist-demo dist-stop

$(BIN)/lowincome: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,dist]"
	touch $(BIN)/lowincome

install: $(BIN)/lowincome

instance:
	mkdir -p var/dagster_home && cp pipelines/dagster.yaml var/dagster_home/dagster.yaml

demo: install instance
	$(DEMO_ENV) $(BIN)/lowincome demo --root $(DEMO_ROOT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo

test: lint
	$(BIN)/pytest -q

quick: lint
	$(BIN)/pytest -q -m "not slow"

# The Dagster UI (dg dev = the webserver and daemon) on the demo's instance and warehouse.
dev: install instance
	$(DEMO_ENV) $(BIN)/dg dev

# Headless-Chromium screenshots of the report and the UI's asset page (needs `make demo` first
# and Debian's chromium; skipped with a reason when it is missing).
screenshots: install
	SCREENSHOTS=$(CURDIR)/var/screenshots $(BIN)/pytest -q -rs -s tests/test_screenshots.py

# The distributed deployment (README "Beyond one machine"): PostgreSQL and Redis from
# Debian's packages on loopback, 2 Celery workers, the sample months over 4 regions.
# The workers stop at the end; the servers keep the runs for the UI until `make dist-stop`.
DIST_ENV = eval "$$(pipelines/dist/servers.sh env)" && export DAGSTER_HOME=$(CURDIR)/var/dist/dagster_home \
	MONITOR_FIRST_MONTH=$${MONITOR_FIRST_MONTH:-2026-07-01}

dist-demo: install
	pipelines/dist/servers.sh install
	pipelines/dist/servers.sh start
	pipelines/dist/workers.sh start 2
	$(DIST_ENV) && $(BIN)/python -m pipelines.dist_demo --root $(CURDIR)/var/dist-demo; \
		rc=$$?; pipelines/dist/workers.sh stop; exit $$rc

dist-stop:
	pipelines/dist/workers.sh stop
	pipelines/dist/servers.sh stop
