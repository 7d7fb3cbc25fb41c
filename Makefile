# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: demo test test-sqlite test-postgresql lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## Set up and run the demo: a coconut-water supply chain on a live exchange (SQLite).
demo: $(VENV)/.installed
	$(BIN)/exchange demo

## Set up and run the whole suite on SQLite and, when it answers, on PostgreSQL.
test: $(VENV)/.installed
	@echo "== lint (ruff) =="
	$(BIN)/ruff check exchange tests bench
	@echo "== tests on SQLite =="
	$(BIN)/pytest -q -n 2
	@if $(BIN)/python -c "import psycopg; psycopg.connect('host=127.0.0.1 port=5432 user=postgres dbname=test', connect_timeout=3).close()" 2>/dev/null; then \
		echo "== tests on PostgreSQL (127.0.0.1:5432) =="; \
		EXCHANGE_TEST_DATABASE_URL='$(PG_URL)' $(BIN)/pytest -q -n 2; \
	else \
		echo "== PostgreSQL does not answer on 127.0.0.1:5432: ran on SQLite only =="; \
	fi

lint: $(VENV)/.installed
	$(BIN)/ruff check exchange tests bench
	$(BIN)/mypy

bench: $(VENV)/.installed
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/log.py
	$(BIN)/python bench/aggregate.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
