# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed

.PHONY: install run worker test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Install and start the service on its embedded defaults (SQLite, .eml outbox, local mirror).
run: install
	$(BIN)/consent serve

## Install and run every test (PostgreSQL tests run when PostgreSQL answers on 127.0.0.1:5432).
test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python bench/optin.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
