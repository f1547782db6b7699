# Stamm developer tasks (GNU make).
#
#   make venv     create .venv (python3 >= 3.11) and install the project with its dev extra
#   make run      serve the API (graph.main migrates/creates the database; HOST/PORT, default 127.0.0.1:8000)
#   make test     pytest, then ruff check, ruff format --check and mypy: all must pass
#   make lint     ruff check, ruff format --check, mypy
#   make format   ruff format, then ruff check --fix
#   make schema   regenerate schema.graphql from the code
#   make bench    run the benchmark (python -m bench; PostgreSQL + Redis, results in docs/benchmarks.md)
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
STAMP := $(VENV)/.installed
PACKAGES := domain persistence graph

.PHONY: help venv run test lint format schema bench fuzz clean

help:
	@sed -n 's/^#   make /make /p' $(firstword $(MAKEFILE_LIST))

venv: $(STAMP)

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "$(PYTHON) is $$($(PYTHON) --version 2>&1); Stamm needs Python >= 3.11 (set PYTHON=...)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[dev]'
	@touch $@

run: venv
	$(PY) -m graph.main

test: venv
	$(PY) -m pytest -q
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(PACKAGES)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(PACKAGES)

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Written to a temporary file first so that a failing export leaves schema.graphql as it was.
schema: venv
	$(PY) -m graph.export_schema > schema.graphql.tmp || { rm -f schema.graphql.tmp; exit 1; }
	@mv schema.graphql.tmp schema.graphql
	@echo "wrote schema.graphql"

bench: venv
	$(PY) -m bench

fuzz: venv
	$(PY) -m tests.security.fuzz_large

clean:
	rm -rf $(VENV) data build .pytest_cache .mypy_cache .ruff_cache .coverage schema.graphql.tmp *.egg-info
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
