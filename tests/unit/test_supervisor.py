"""`swen up`'s supervisor: starts every component, restarts a crashed one with backoff, gives up after
too many crashes, and stops everything (SIGTERM first, then SIGKILL) when asked."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from swen.supervisor import Component, Supervisor


def _py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_components_start_and_stop_on_request(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    sleeper = Component(
        "sleeper", _py(f"import pathlib,time; pathlib.Path({str(marker)!r}).touch(); time.sleep(60)")
    )
    lines: list[str] = []
    sup = Supervisor([sleeper], log=lines.append, grace_s=5)
    deadline = time.monotonic() + 20
    code = sup.run(poll_s=0.05, until=lambda: marker.exists() or time.monotonic() > deadline)
    assert code == 0
    assert marker.exists()
    assert sleeper.process is not None and sleeper.process.returncode is not None  # stopped
    assert any(line.startswith("stopped sleeper") for line in lines)


def test_a_crashing_component_is_restarted_then_given_up(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    crasher = Component(
        "crasher",
        _py(
            f"import pathlib; p = pathlib.Path({str(counter)!r}); "
            "p.write_text(p.read_text() + 'x' if p.exists() else 'x'); raise SystemExit(3)"
        ),
    )
    lines: list[str] = []
    sup = Supervisor([crasher], log=lines.append, max_restarts=2)
    sup_deadline = time.monotonic() + 30
    code = sup.run(poll_s=0.05, until=lambda: time.monotonic() > sup_deadline)
    assert code == 1  # gave up: the CLI exits non-zero
    assert counter.read_text() == "xxx"  # first start + 2 restarts
    assert any("gave up after 2 restarts" in line for line in lines)


def test_a_component_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    marker = tmp_path / "ready"
    stubborn = Component(
        "stubborn",
        _py(
            "import pathlib,signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            f"pathlib.Path({str(marker)!r}).touch(); time.sleep(60)"
        ),
    )
    lines: list[str] = []
    sup = Supervisor([stubborn], log=lines.append, grace_s=0.5)
    deadline = time.monotonic() + 20
    sup.run(poll_s=0.05, until=lambda: marker.exists() or time.monotonic() > deadline)
    assert stubborn.process is not None and stubborn.process.returncode is not None
    assert any("did not stop" in line and "killing" in line for line in lines)
