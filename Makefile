# Stamm developer tasks (GNU make).
#
#   make venv     create .venv (python3 >= 3.11) and install the project with its dev extra
#   make run      serve the API, the console (/app) and the widget (/widget.js) with the demo data (installs only the service; builds the front end when missing or stale; migrates, seeds an empty database; HOST/PORT, default 127.0.0.1:8000)
#   make test     build the front end, pytest on every CPU (pytest-xdist; browser tests included), then ruff check, ruff format --check, mypy and the front end's eslint + tsc: all must pass
#   make web      build the front end (web/ -> web/dist; needs Node.js >= 20)
#   make screenshots  retake docs/screenshots/*.png (the browser walk-through)
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

.PHONY: help venv run test lint format schema settings-table bench fuzz clean web node screenshots

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

# The front end (web/): rebuilt when a source, the lock file or schema.graphql (its typed
# operations are generated from it) is newer than the last build's stamp.
WEB_STAMP := web/dist/.built
WEB_DEPS := web/node_modules/.package-lock.json
WEB_SOURCES := $(shell find web -path web/node_modules -prune -o -path web/dist -prune -o -path web/src/gql -prune -o -type f -print 2>/dev/null) schema.graphql

node:
	@command -v node >/dev/null 2>&1 || { echo "Stamm's web front end needs Node.js >= 20 (with npm): node was not found. Install it, e.g. apt-get install nodejs npm, or see https://nodejs.org" >&2; exit 1; }
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)' || { echo "node is $$(node --version); Stamm's web front end needs Node.js >= 20" >&2; exit 1; }

$(WEB_DEPS): web/package.json web/package-lock.json | node
	cd web && npm ci --no-audit --no-fund

$(WEB_STAMP): $(WEB_SOURCES) $(WEB_DEPS) | node
	cd web && npm run build
	@touch $@

web: $(WEB_STAMP)

run: $(SERVICE) $(WEB_STAMP)
	STAMM_DEMO=$(STAMM_DEMO) $(PY) -m graph.main

# pytest-xdist: one worker per CPU (PYTEST_WORKERS=0 runs in one process); --dist loadgroup keeps
# each module with a module-scoped server on one worker, and the `serial` tests together.
PYTEST_WORKERS ?= auto
test: $(DEV) $(WEB_STAMP)
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(PACKAGES)
	cd web && npm run lint

screenshots: $(DEV) $(WEB_STAMP)
	$(PY) -m pytest -q tests/browser/test_walkthrough.py tests/browser/test_folder_and_members.py -k sqlite --screenshots docs/screenshots

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
	rm -rf $(VENV) data build tests/http_audit/node_modules web/node_modules web/dist web/src/gql .pytest_cache .mypy_cache .ruff_cache .coverage schema.graphql.tmp *.egg-info
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
