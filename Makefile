# The commands the README names. Everything installs into .venv from pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8000

.PHONY: install up test test-quick lint format typecheck bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Run the whole stack with demo data (embedded PostgreSQL unless DATABASE_URL is set).
up: install
	$(BIN)/linju up --port $(PORT)

## Lint, then the whole test suite against a real embedded PostgreSQL and real service processes
## (the slow parts too: faults, fuzzing, load — CI runs exactly this).
test: install lint
	$(BIN)/pytest

## The suite without the tests marked slow (faults, fuzzing, load), for a quick loop while coding.
test-quick: install
	$(BIN)/pytest -m "not slow"

lint: install
	$(BIN)/ruff check services tests migrations bench
	$(BIN)/ruff format --check services tests migrations bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff format services tests migrations bench
	$(BIN)/ruff check --fix services tests migrations bench

typecheck: install
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .linju .pytest_cache .ruff_cache .mypy_cache

## The speed targets of issue 7, each a ratio against a baseline measured in the same run.
bench: install
	$(BIN)/python bench/run.py
