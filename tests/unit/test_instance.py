"""One platform per SWEN_HOME: while a process holds the engine and simulator roles (as `swen up`
does), a second `swen up`, `swen engine` or `swen simulate` on the same state exits at once, non-zero,
naming the running one; the lock is the kernel's, so a killed holder leaves nothing stale."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from swen.domain.errors import ConflictError
from swen.instance import ROLES, claim, claimed, holder, info_path

CHILD = (
    "import sys; from pathlib import Path; from swen.instance import claim; "
    "claim(Path(sys.argv[1]), ['engine']); print('child ran')"
)
HOLD = f"""
import subprocess, sys, time
from pathlib import Path
from swen.instance import ROLES, claim
held = claim(Path(sys.argv[1]), ROLES, command="swen up --no-api")
fds = tuple(held.fds)
mode = sys.argv[2]
if mode == "child":  # a process it starts, as `swen up` starts `swen engine`
    child = subprocess.run([sys.executable, "-c", {CHILD!r}, sys.argv[1]], pass_fds=fds,
                           capture_output=True, text=True)
    print(child.returncode, child.stdout.strip(), child.stderr.strip(), flush=True)
elif mode == "orphan":  # leaves a process holding the lock, then exits
    keeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], pass_fds=fds,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(keeper.pid, flush=True)
else:
    print("ready", flush=True)
    time.sleep(600)
"""


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.fixture
def running(swen_home: Path) -> Iterator[subprocess.Popen[str]]:
    """A process holding both roles on swen_home, like `swen up`."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(swen_home), "hold"], stdout=subprocess.PIPE, text=True, env=_env()
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _swen(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swen", *args],
        env={**_env(), "SWEN_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("command", "what"),
    [(["up"], "the engine"), (["engine", "--once"], "the engine"), (["simulate", "--once"], "the simulator")],
)
def test_a_second_platform_on_the_same_home_exits_naming_the_first(
    running: subprocess.Popen[str], swen_home: Path, command: list[str], what: str
) -> None:
    done = _swen(swen_home, *command)
    assert done.returncode == 4, done.stderr
    message = done.stderr.strip()
    assert message.startswith(
        f"error: {what} is already running on {swen_home.resolve()}: pid {running.pid}, since "
    ), message
    assert "command `swen up --no-api`" in message
    assert f"`kill {running.pid}`" in message and "set SWEN_HOME" in message
    assert len(message.splitlines()) == 1
    assert running.poll() is None  # the first one is untouched
    assert not (swen_home / "swen.db").exists()  # refused before touching the state


def test_another_home_is_another_platform(running: subprocess.Popen[str], tmp_path: Path) -> None:
    with claimed(tmp_path / "other", ROLES) as taken:
        assert taken.fds


def test_the_info_names_the_holder(running: subprocess.Popen[str], swen_home: Path) -> None:
    found = holder(swen_home, "engine")
    assert found is not None and found.pid == running.pid and found.command == "swen up --no-api"


def test_a_killed_holder_leaves_no_stale_lock(running: subprocess.Popen[str], swen_home: Path) -> None:
    running.send_signal(signal.SIGKILL)
    running.wait()
    assert info_path(swen_home, "engine").exists()  # its info file stays behind ...
    with claimed(swen_home, ROLES, command="swen up") as taken:  # ... but the lock went with it
        assert len(taken.fds) == 2
        found = holder(swen_home, "engine")
        assert found is not None and found.pid == os.getpid() and found.command == "swen up"
    assert not info_path(swen_home, "engine").exists()  # released: info removed


def test_a_process_the_holder_starts_runs_under_its_lock(swen_home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", HOLD, str(swen_home), "child"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0 child ran"


def test_a_lock_left_by_an_exited_holder_says_so(swen_home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", HOLD, str(swen_home), "orphan"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    keeper = int(done.stdout.strip())
    try:
        with pytest.raises(ConflictError) as refused:
            claim(swen_home, ["engine"])
        assert "which has exited but left a process it started holding the lock" in str(refused.value)
        assert "fuser -v" in str(refused.value)
    finally:
        os.kill(keeper, signal.SIGKILL)


def test_a_claim_in_this_process_is_released_for_the_next(swen_home: Path) -> None:
    with claimed(swen_home, ["simulator"]):
        with pytest.raises(ConflictError):
            claim(swen_home, ["simulator"])  # a second descriptor is a second holder
        with claimed(swen_home, ["engine"]):
            pass  # the other role is free
    with claimed(swen_home, ["simulator"]) as again:
        assert again.fds
