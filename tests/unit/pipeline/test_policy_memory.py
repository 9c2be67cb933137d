"""The policy gate keeps no memory per evaluation in a process that imports swen (``swen/__init__``).

Checked in a fresh interpreter (import order is the point): ``import swen`` first, as every entry point
does, then numpy, then a few hundred evaluations of a realistic gate input; glibc's ``mallinfo2``
(bytes malloc'd and not freed) must not grow with the evaluations. The same loop with numpy imported
before regopy kept ~160 KB per evaluation (regopy 1.5.2), which is what this guards against.
"""

from __future__ import annotations

import ctypes.util
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

import swen

PROBE = r"""
import ctypes, json, sys
{imports}
from swen.pipeline.policy import PolicyGate

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
        "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
gate = PolicyGate()
doc = json.loads(sys.argv[1])
for k in range(20):
    gate.evaluate_raw(doc)
before = libc.mallinfo2().uordblks
for k in range(300):
    doc["decision"]["decision_id"] = f"dec-{{k:016x}}"
    gate.evaluate_raw(doc)
print(libc.mallinfo2().uordblks - before)
"""

DOC = {
    "decision": {
        "service": "analytics-api-081",
        "stateful": True,
        "confidence": 1.0,
        "emergency": True,
        "from": {"provider": "aws", "region": "us-east-1"},
        "to": {"provider": "aws", "region": "eu-west-1"},
        "decision_id": "dec-68c586705c37c563",
    },
    "cost_delta_pct": 11.18,
    "plan": {
        "resource_changes": [
            {
                "address": 'terraform_data.placement["analytics-api-081"]',
                "type": "terraform_data",
                "actions": ["delete", "create"],
                "action": "replace",
                "stateful": True,
                "service": "analytics-api-081",
            }
        ],
        "counts": {"create": 0, "update": 0, "delete": 0, "replace": 1, "forget": 0, "no_op": 0},
        "terraform_version": None,
    },
}


def _growth(imports: str) -> int:
    """Bytes malloc'd and kept over 300 evaluations in a fresh process that runs ``imports`` first."""
    src = str(Path(swen.__file__).resolve().parents[1])  # this checkout's swen, not the installed one
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(imports=imports), json.dumps(DOC)],
        env={**os.environ, "PYTHONPATH": src},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return int(out.stdout.strip())


@pytest.mark.skipif(
    platform.system() != "Linux"
    or ctypes.util.find_library("c") is None
    or platform.libc_ver()[0] != "glibc",
    reason="mallinfo2 is glibc's",
)
def test_gate_evaluations_keep_no_memory_once_swen_is_imported() -> None:
    assert _growth("import swen\nimport numpy") < 1 * 2**20
