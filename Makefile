# Quick start: `make run` runs the platform, `make test` runs every check. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# STAMP: SWEN with the dev tools (pytest, playwright, schemathesis, mypy, ruff) for `make test` & co.
# RUNTIME_STAMP: SWEN alone, what `make run` needs (a dev install satisfies it; it never satisfies STAMP).
RUNTIME_STAMP := $(VENV)/.runtime-stamp

.PHONY: run test lint typecheck unit bench screenshots clean setup setup-runtime

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "Installing SWEN and its runtime dependencies into $(VENV) (no dev tools; a few minutes the first time)"
	$(BIN)/pip install -U pip setuptools wheel
	$(BIN)/pip install -e .
	touch $(RUNTIME_STAMP)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	@echo "Installing SWEN with the dev tools into $(VENV) (pytest, playwright, schemathesis, mypy, ruff)"
	$(BIN)/pip install -U pip setuptools wheel
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP) $(RUNTIME_STAMP)

setup: $(STAMP)

setup-runtime: $(RUNTIME_STAMP)

run: $(RUNTIME_STAMP)
	@echo "Starting SWEN. In another shell, run commands with .venv/bin/swen (or: source .venv/bin/activate)."
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
