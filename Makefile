# Tenantry: `make` (or `make help`) lists the targets.
#
# Everything runs from a virtualenv in .venv, created on first use with Python 3.11 or newer. The install
# steps are stamped against pyproject.toml, so they rerun only when the dependencies change.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= $(shell command -v python3.11 || command -v python3)
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist: one process per core; each worker migrates its own database, and the tests that open
# their own PostgreSQL database take turns (tests/conftest.py) to stay under max_connections.
PYTEST_ARGS ?= -n auto
TEST_PG_URL ?= postgresql://postgres@127.0.0.1:5432/postgres
LINT_PATHS := $(wildcard app tests bench scripts setup.py)

.PHONY: help run serve test test-pg check-wheel lint format migration db-check bench install install-dev clean

help: ## Show this help
	@echo "Tenantry make targets:"
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "error: python3.11 (or python3 >= 3.11) not found on PATH" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
		|| { echo "error: $(PYTHON) is older than 3.11; set PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed ## Install Tenantry into .venv

install-dev: $(VENV)/.installed-dev ## Install Tenantry with the dev extras into .venv

run: install ## Install, migrate the SQLite db in ./instance, create the demo org (keys shown once), serve on 127.0.0.1:8000
	$(BIN)/tenantry db upgrade
	$(BIN)/tenantry demo
	$(BIN)/tenantry serve --host $(HOST) --port $(PORT)

serve: install ## Serve on HOST:PORT (default 127.0.0.1:8000) without touching the database or the demo org
	$(BIN)/tenantry serve --host $(HOST) --port $(PORT)

# pytest exits 5 when it collected no test: that is a failure here, never a green run.
define run_pytest
	@rc=0; $(1) $(BIN)/pytest -q $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$rc
endef

test: install-dev ## Install the dev extras and run the whole test suite (SQLite)
	$(call run_pytest,)

test-pg: install-dev ## The whole test suite on PostgreSQL (a fresh database per run)
	$(call run_pytest,TENANTRY_TEST_DATABASE_URL=$(TEST_PG_URL))

check-wheel: install-dev ## Build the wheel and run it (db upgrade, demo, serve, a check) from a fresh venv elsewhere
	$(BIN)/pytest -q -m wheel tests/packaging

lint: install-dev ## ruff check, ruff format --check, mypy (strict on app/)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy

format: install-dev ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

migration: install-dev ## A new revision from the models' changes: make migration NAME=domain_claims
	@test -n "$(NAME)" || { echo "usage: make migration NAME=lower_snake_case_name" >&2; exit 2; }
	$(BIN)/python scripts/new_migration.py $(NAME)

db-check: install ## Upgrade a scratch SQLite database to head and check that models and migrations agree
	@scratch=$$(mktemp -d) && trap 'rm -rf "$$scratch"' EXIT && \
	export TENANTRY_DATABASE_URL="sqlite:///$$scratch/check.db" TENANTRY_INSTANCE_PATH="$$scratch" && \
	$(BIN)/tenantry db upgrade && $(BIN)/tenantry db check

bench: install-dev ## Run the benchmarks in bench/ (each prints its figures); one of them: make bench BENCH=authz
	@set -e; scripts="$(if $(BENCH),bench/$(BENCH).py,$$(grep -l '^if __name__ == "__main__"' bench/*.py 2>/dev/null))"; \
	[ -n "$$scripts" ] || { echo "no benchmarks in bench/"; exit 0; }; \
	for script in $$scripts; do \
		module=$$(basename "$$script" .py); echo "== bench/$$module.py"; $(BIN)/python -m "bench.$$module"; \
	done

clean: ## Remove the virtualenv and caches (keeps ./instance, where the dev database lives)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist *.egg-info
