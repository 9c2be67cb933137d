# Quick start: `make run` runs the platform, `make test` runs every check. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# STAMP: SWEN with the dev tools (pytest, playwright, schemathesis, mypy, ruff) for `make test` & co.
# RUNTIME_STAMP: SWEN alone, what `make run` needs (a dev install satisfies it; it never satisfies STAMP).
RUNTIME_STAMP := $(VENV)/.runtime-stamp
# checkov (the deploy/ and infra/ gate) gets a venv of its own: it depends on bc-python-hcl2, a fork
# that installs over the `hcl2` package of SWEN's python-hcl2, so the two cannot share a venv.
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_SPEC := checkov>=3.2,<4

.PHONY: run rehearsal test lint typecheck unit bench screenshots clean setup setup-runtime checkov image image-test rehearsal-test

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

$(CHECKOV):
	@echo "Installing checkov into $(CHECKOV_VENV) (its own venv; see the Makefile)"
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install '$(CHECKOV_SPEC)'

checkov: $(CHECKOV)

setup: $(STAMP)

setup-runtime: $(RUNTIME_STAMP)

run: $(RUNTIME_STAMP)
	@echo "Starting SWEN. In another shell, run commands with .venv/bin/swen (or: source .venv/bin/activate)."
	$(BIN)/swen up

# The production topology on this machine (README, "Rehearsing production"): PostgreSQL, 3 API
# replicas behind haproxy, 2 engines, simulator, dashboard, Prometheus, Alertmanager. Needs the Debian
# packages haproxy, postgresql (or SWEN_DATABASE_URL), prometheus and prometheus-alertmanager.
rehearsal: $(RUNTIME_STAMP)
	$(BIN)/swen up --production

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# Starts the local services the tests need (PostgreSQL when installed), then runs every test but the
# slow steps of .ci/run: rehearsal-test and image-test.
test: $(STAMP) $(CHECKOV) lint typecheck
	source scripts/test-services.sh && $(BIN)/pytest -m "not rehearsal" --durations=15

# The production rehearsal started for real (PostgreSQL, haproxy, 3 API replicas, 2 engines, Prometheus,
# Alertmanager): the tests marked `rehearsal`, a few minutes, a separate step of .ci/run after `make test`.
rehearsal-test: $(STAMP)
	source scripts/test-services.sh && $(BIN)/pytest -q -m rehearsal tests/integration

# The one image (Dockerfile) built without a registry and checked on /healthz: needs root, buildah and
# debootstrap (docs/DEPLOY.md). image-test is the slow test of it, a separate step of .ci/run.
image:
	scripts/image.sh all

image-test: $(STAMP)
	IMAGE_TEST=1 $(BIN)/pytest -q tests/integration/deploy/test_image.py

bench: $(STAMP)
	source scripts/test-services.sh && for b in bench/*_bench.py; do $(BIN)/python $$b || exit 1; done

screenshots: $(STAMP)
	$(BIN)/python -m swen.demo.screenshots docs/img

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) var .pytest_cache .mypy_cache .ruff_cache
