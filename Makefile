# Stamm developer tasks (GNU make).
#
#   make venv     create .venv (python3 >= 3.11) and install the project with its dev extra
#   make run      serve the API with the demo data (installs only the service; migrates, seeds an empty database; HOST/PORT, default 127.0.0.1:8000)
#   make test     pytest, then ruff check, ruff format --check and mypy: all must pass
#   make lint     ruff check, ruff format --check, mypy
#   make format   ruff format, then ruff check --fix
#   make schema   regenerate schema.graphql from the code
#   make settings-table  regenerate the settings table in README.md from bootstrap/settings.py
#   make bench    run the benchmark (python -m bench; PostgreSQL + Redis, results in docs/benchmarks.md; BENCH=live or BENCH=widgets,idle runs a subset)
#   make fuzz     a long schemathesis run against the API (2,000 generated operations)
#   make clean    remove .venv, data/ and test/tool artefacts
#
# The environment passes through to every command: `PORT=9000 make run` or `make run PORT=9000`.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The service's dependencies, then the dev extra (test and lint tools) on top: `make run` needs
# only the first, so a newcomer's first start does not wait for the test tools.
SERVICE := $(VENV)/.installed-service
DEV := $(VENV)/.installed-dev
PACKAGES := domain persistence graph bootstrap
# Only `make run` seeds the demo; every other start (image, compose, python -m graph.main) starts empty.
STAMM_DEMO ?= 1

.PHONY: help venv run test lint format schema settings-table bench fuzz clean

help:
	@sed -n 's/^#   make /make /p' $(firstword $(MAKEFILE_LIST))

venv: $(DEV)

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "$(PYTHON) is $$($(PYTHON) --version 2>&1); Stamm needs Python >= 3.11 (set PYTHON=...)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml is newer than the stamp.
$(SERVICE): pyproject.toml | $(PY)
	$(PY) -m pip install -e .
	@touch $@

$(DEV): $(SERVICE)
	$(PY) -m pip install -e '.[dev]'
	@touch $@

run: $(SERVICE)
	STAMM_DEMO=$(STAMM_DEMO) $(PY) -m graph.main

test: $(DEV)
	$(PY) -m pytest -q
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(PACKAGES)

lint: $(DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(PACKAGES)

format: $(DEV)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Written to a temporary file first so that a failing export leaves schema.graphql as it was.
schema: $(SERVICE)
	$(PY) -m graph.export_schema > schema.graphql.tmp || { rm -f schema.graphql.tmp; exit 1; }
	@mv schema.graphql.tmp schema.graphql
	@echo "wrote schema.graphql"

settings-table: $(SERVICE)
	$(PY) -m bootstrap.settings_table

# BENCH=<phases>: only those (comma-separated, or `live` for the rows of issue 10); a subset leaves docs/ as it is.
BENCH ?=
bench: $(DEV)
	$(PY) -m bench $(if $(BENCH),--only $(BENCH))

fuzz: $(DEV)
	$(PY) -m tests.security.fuzz_large

clean:
	rm -rf $(VENV) data build tests/http_audit/node_modules .pytest_cache .mypy_cache .ruff_cache .coverage schema.graphql.tmp *.egg-info
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
