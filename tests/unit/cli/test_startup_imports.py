"""The command line starts without loading the policy gate or the pipeline runner: `swen --help`,
`swen decisions` and the like never evaluate the gate, and loading it cost every command start (the
review brief once imported a constant from the runner).

regopy's native library itself is loaded by ``swen/__init__`` on purpose, before numpy: loaded after it,
every gate evaluation kept ~160 KB for good (``tests/unit/pipeline/test_policy_memory.py``). Measured
(branch btcpu2): `import swen.cli` 0.88-0.93 CPU s without it, 0.90-1.00 s with it, within the noise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[3] / "src"


def test_importing_the_cli_loads_neither_the_gate_nor_the_runner() -> None:
    heavy = "('swen.pipeline.policy', 'swen.pipeline.runner')"
    probe = f"import sys, swen.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
