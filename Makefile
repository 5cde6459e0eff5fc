# The two commands of the README. Each creates the virtual environment on first use.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install dev

$(BIN)/lowincome: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/lowincome

install: $(BIN)/lowincome

demo: install
	$(BIN)/lowincome demo

test: install
	$(BIN)/pytest -q

dev: install
	DAGSTER_HOME=$(CURDIR)/var/dagster_home MONITOR_INBOX=$${MONITOR_INBOX:-$(CURDIR)/var/demo/inbox} \
	  sh -c 'mkdir -p $$DAGSTER_HOME && cp -n dagster.yaml $$DAGSTER_HOME/ ; $(BIN)/dagster dev -w workspace.yaml'
