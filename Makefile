# Quick start: `make run` runs the platform, `make test` runs every check. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck unit bench screenshots clean setup

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip setuptools wheel
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/swen up

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# Starts the local services the tests need (PostgreSQL when installed), then runs everything.
test: $(STAMP) lint typecheck
	source scripts/test-services.sh && $(BIN)/pytest

bench: $(STAMP)
	source scripts/test-services.sh && for b in bench/*_bench.py; do $(BIN)/python $$b || exit 1; done

screenshots: $(STAMP)
	$(BIN)/python -m swen.demo.screenshots docs/img

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
