# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
# Two workers; the tests of a module that share a server or browser run on one of them
# (tests/conftest.py groups them), so that each server starts once.
PYTEST_PARALLEL := -n 2 --dist loadgroup
# How many of the phases of `make test` (lint, docs, the SQLite pass, the PostgreSQL pass) run
# at once. Much of a pass's time is its tests waiting on the servers, CLIs and browser they
# start, so the phases side by side keep two cores busier than one after the other.
TEST_JOBS ?= 4
# Bash for the recipes: its `time` ends each phase with its wall-clock and CPU time (user and
# system, the phase's child processes included), which is where a slow run shows what to fix.
SHELL := /bin/bash
TIMED = TIMEFORMAT="== $@: %0Rs wall, %0Us user + %0Ss system CPU =="; time
# The slowest tests of a pass, with their setup and teardown apart.
DURATIONS := --durations=25
PG_ANSWERS = $(BIN)/python -c "import psycopg; psycopg.connect('host=127.0.0.1 port=5432 user=postgres dbname=test', connect_timeout=3).close()" 2>/dev/null

# The suite starts Python processes by the hundred (xdist workers, servers and their gunicorn
# workers, CLIs, throwaway virtualenvs). Where PYTHONDONTWRITEBYTECODE is set (CI images and
# sandboxes often set it) nothing writes the compiled bytecode, so every one of them compiled
# each module it imports (SQLAlchemy, Flask, pydantic, the exchange) from source again:
# seconds of CPU a process, most of a fresh clone's test time. Here the first import writes
# it (into .venv and the clone's __pycache__ folders, which git ignores).
unexport PYTHONDONTWRITEBYTECODE

# What the exchange needs from Debian: a CJK font for the PNG labels' Chinese text (the demo
# prints one). The tests also need a browser for the verification page and the zbar QR
# decoder. Installed only when missing.
DEMO_PACKAGES := fonts-wqy-zenhei
TEST_PACKAGES := $(DEMO_PACKAGES) chromium chromium-driver libzbar0 zbar-tools
DEBIAN_PACKAGES ?= $(TEST_PACKAGES)

.PHONY: demo test test-sqlite test-postgresql lint docs bench bench-load clean system-packages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# pip installs uv, and uv the package with its dev dependencies: seconds where pip alone
# took about a minute of a fresh clone's `make test`.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(BIN)/python -m uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $@

## Set up and run the demo: a coconut-water supply chain on a live exchange (SQLite).
demo: $(VENV)/.installed
	@$(MAKE) --no-print-directory system-packages DEBIAN_PACKAGES="$(DEMO_PACKAGES)"
	$(BIN)/exchange demo

## Debian packages (DEBIAN_PACKAGES, the tests' by default), installed with apt-get only when some are absent.
system-packages:
	@missing=""; \
	for package in $(DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "install ok installed" \
			|| missing="$$missing $$package"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
		echo "== not Debian: install$$missing yourself (the browser and QR tests need them) =="; \
		exit 0; \
	fi; \
	echo "== installing Debian packages:$$missing =="; \
	if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
	$$sudo apt-get update && \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y --no-install-recommends $$missing

## Set up and run the whole suite on SQLite and, when it answers, on PostgreSQL: lint, docs and
## both passes side by side (TEST_JOBS), each phase's output printed whole when it ends.
test: $(VENV)/.installed system-packages
	@TIMEFORMAT="== make test: %0Rs wall, %0Us user + %0Ss system CPU =="; time { \
	if $(PG_ANSWERS); then \
		passes="test-sqlite test-postgresql"; ran="SQLite and PostgreSQL (127.0.0.1:5432)"; \
	else \
		passes="test-sqlite"; ran="SQLite only: PostgreSQL does not answer on 127.0.0.1:5432"; \
	fi; \
	echo "== lint, docs and the tests on $$ran, $(TEST_JOBS) at a time =="; \
	$(MAKE) --no-print-directory --keep-going --jobs=$(TEST_JOBS) --output-sync=target \
		lint docs $$passes || { echo "== FAILED (see above); the tests ran on $$ran =="; exit 1; }; \
	echo "== passed: lint, docs, the tests on $$ran =="; \
	}

## Every test on SQLite, with the line coverage of the in-process suite (floor: pyproject.toml):
## SlipCover collects it ([tool.slipcover]), coverage.py reports it (tools/coverage_report.py).
## SlipCover imports itself before pytest can rewrite its asserts: that warning alone is let by.
test-sqlite: $(VENV)/.installed
	@echo "== tests on SQLite, with coverage =="
	@$(TIMED) { \
		$(BIN)/python -m slipcover -m pytest -p tools.slipcover_workers \
			-W "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning" \
			-q $(PYTEST_PARALLEL) $(DURATIONS) \
		&& $(BIN)/python tools/coverage_report.py .coverage-slipcover.json; \
	}

## The tests that touch the database, on PostgreSQL (PG_URL); the rest ran on SQLite. Its
## screenshots go to a folder of their own: the SQLite pass may be writing its own beside it.
test-postgresql: $(VENV)/.installed
	@echo "== tests on PostgreSQL ($(PG_URL)): every test that touches the database =="
	@export EXCHANGE_TEST_DATABASE_URL='$(PG_URL)' EXCHANGE_TEST_ARTEFACTS=test-artefacts/postgresql; \
	$(TIMED) $(BIN)/pytest -q $(PYTEST_PARALLEL) $(DURATIONS)

## Static checks: ruff (lint and format), the layer contract, mypy strict.
lint: $(VENV)/.installed
	@echo "== lint (ruff, ruff format, the layer contract, mypy strict) =="
	@$(TIMED) { \
		$(BIN)/ruff check exchange tests bench docs/hooks tools \
		&& $(BIN)/ruff format --check exchange tests bench docs/hooks tools \
		&& $(BIN)/lint-imports --no-cache \
		&& $(BIN)/mypy; \
	}

## The documentation site (mkdocs.yml, docs/) built into site/; the API reference page is
## generated from the app's OpenAPI document. --strict: a broken link or anchor fails.
docs: $(VENV)/.installed
	@echo "== docs (mkdocs build --strict) =="
	@$(TIMED) $(BIN)/mkdocs build --strict

bench: $(VENV)/.installed
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/ingest_floor.py
	$(BIN)/python bench/log.py
	$(BIN)/python bench/pact_list.py
	$(BIN)/python bench/labels.py
	$(BIN)/python bench/aggregate.py
	@if $(PG_ANSWERS); then \
		$(BIN)/python bench/load.py; \
	else \
		echo "== PostgreSQL does not answer on 127.0.0.1:5432: bench/load.py skipped =="; \
	fi

## The load benchmark alone: gunicorn on PostgreSQL, 64 clients for 60 s.
bench-load: $(VENV)/.installed
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
