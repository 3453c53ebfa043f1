# The commands the README names. Everything installs into .venv from pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PORT   ?= 8000

CHROMIUM ?= /usr/bin/chromium

.PHONY: install up test test-quick lint format typecheck bench clean browser

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
test: install browser lint
	$(BIN)/pytest

## Debian's Chromium for the docs browser test (tests/gateway/test_docs_browser.py): installed
## when missing and we may (root with apt-get); otherwise say the one command and let that test fail.
browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	  else \
	    echo "make: the docs browser test needs Chromium: run  sudo apt-get install -y chromium" >&2; \
	  fi; \
	fi

## The suite without the tests marked slow (faults, fuzzing, load), for a quick loop while coding.
test-quick: install browser
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
