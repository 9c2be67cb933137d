"""`swen up`'s supervisor: starts every component, restarts a crashed one with backoff, gives up after
too many crashes, and stops everything (SIGTERM first, then SIGKILL) when asked."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from swen.supervisor import Component, StartupError, Supervisor


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


def test_components_start_in_order_each_ready_before_the_next_and_stop_with_the_database_last(
    tmp_path: Path,
) -> None:
    order = tmp_path / "order"
    first_ready = tmp_path / "db-ready"

    def starts(name: str) -> list[str]:
        return _py(
            f"import pathlib,time; p = pathlib.Path({str(order)!r}); "
            f"p.write_text((p.read_text() if p.exists() else '') + {name!r} + ' '); "
            f"pathlib.Path({str(tmp_path)!r}, {name!r}).touch(); time.sleep(60)"
        )

    prepared: list[str] = []
    db = Component(
        "db",
        starts("db"),
        ready=lambda: (tmp_path / "db").exists() and first_ready.touch() is None,
        after_ready=lambda: prepared.append(order.read_text()),
        stop_last=True,
    )
    app = Component("app", starts("app"), ready=lambda: (tmp_path / "app").exists())
    lines: list[str] = []
    started: list[str] = []
    sup = Supervisor([db, app], log=lines.append, grace_s=5, own_process_groups=True)
    code = sup.run(poll_s=0.05, until=lambda: bool(started), on_started=lambda: started.append("yes"))
    assert code == 0
    assert prepared == ["db "]  # after_ready ran once, before the app started
    assert order.read_text() == "db app "
    assert lines.index("db ready") < next(i for i, line in enumerate(lines) if line.startswith("started app"))
    stops = [line for line in lines if line.startswith("stopped")]
    assert stops == ["stopped app", "stopped db"]


def test_a_component_that_dies_while_starting_stops_the_start_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "broken.log"
    broken = Component(
        "broken",
        _py("import sys; print('port 5433 already in use', flush=True); sys.exit(2)"),
        log_file=log,
        ready=lambda: False,
    )
    never = Component("never", _py("import time; time.sleep(60)"))
    sup = Supervisor([broken, never], log=lambda _line: None, grace_s=5)
    with pytest.raises(StartupError) as raised:
        sup.run(poll_s=0.05)
    assert "broken exited with 2 while starting" in str(raised.value)
    assert "port 5433 already in use" in str(raised.value)
    assert never.process is None  # nothing after it started


def test_a_component_that_stays_unready_is_a_startup_error(tmp_path: Path) -> None:
    slow = Component("slow", _py("import time; time.sleep(60)"), ready=lambda: False, ready_timeout_s=0.3)
    sup = Supervisor([slow], log=lambda _line: None, grace_s=5)
    with pytest.raises(StartupError, match="slow was not ready after 0 s"):
        sup.run(poll_s=0.05)
    assert slow.process is not None and slow.process.returncode is not None  # stopped on the way out
