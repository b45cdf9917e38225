# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run worker test lint bench clean

# Errors only: setuptools tells every editable install to beware of same-named folders, and pip
# that a newer pip exists; neither is for a newcomer. An install that fails still says why.
PIP = $(BIN)/pip --disable-pip-version-check --quiet --quiet

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e '.[dev]'
	@# The accessibility tests' engine (axe-core 4); without npm they use the wheel's older copy.
	@if command -v npm >/dev/null 2>&1; then \
		npm install --prefix $(VENV)/npm --silent --no-audit --no-fund axe-core@4.10; \
	else echo "npm not found: the accessibility tests use axe-core 3.1 from axe-selenium-python"; fi
	@touch $(STAMP)

install: $(STAMP)

## Install and start the service on its embedded defaults (SQLite, .eml outbox, local mirror).
run: install
	@echo
	@echo "consent-register starts on http://$(HOST):$(PORT)/ (the form: /subscribe)"
	@echo "Staff pages: http://$(HOST):$(PORT)/staff/"
	@echo "Next step, in another terminal in this folder: make the first admin account"
	@echo "(any name will do; it asks for a password twice), then log in at the staff pages:"
	@echo
	@echo "    $(BIN)/consent staff add omistaja --admin"
	@echo
	@echo "Stop the service with Ctrl+C."
	@echo
	$(BIN)/consent serve --host $(HOST) --port $(PORT)

## Install and run every test (PostgreSQL tests run when PostgreSQL answers on 127.0.0.1:5432)
## in one process per core, naming the slowest.
test: install
	$(BIN)/pytest -n auto --durations=25

## Lint, types and the import contracts (CI runs this before the tests).
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python bench/optin.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
