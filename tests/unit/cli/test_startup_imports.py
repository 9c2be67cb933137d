"""The command line starts without loading the policy gate's native library (regopy) or the pipeline
runner: `swen --help`, `swen decisions` and the like never evaluate the gate, and loading it cost every
command start (the review brief once imported a constant from the runner)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src"


def test_importing_the_cli_loads_neither_the_gate_nor_the_runner() -> None:
    heavy = "('regopy', 'swen.pipeline.policy', 'swen.pipeline.runner')"
    probe = f"import sys, swen.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
