"""A real `swen up` (simulator, engine loop and API as processes): it prints what the platform does as
readable lines and no line per API request, and a second `swen up` on the same state is refused."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
WAIT_S = 240  # generous: how long to wait for a line before failing (the machine may be busy)


class Output:
    """The lines a process prints, collected by a thread as they come."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def join(self) -> None:
        """Wait until the process's output ends (it exited)."""
        self._thread.join(timeout=WAIT_S)

    def wait_for(self, pattern: str) -> str:
        """The first line matching ``pattern``; fails after WAIT_S without one."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + WAIT_S
        with self._changed:
            while True:
                for line in self.lines:
                    if regex.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))
                self._changed.wait(timeout=min(left, 1.0))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def env(swen_home: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("SWEN_")},
        "PYTHONPATH": str(SRC),
        "SWEN_HOME": str(swen_home),
        "SWEN_API_PORT": str(_free_port()),
        "COLUMNS": "80",  # lines must not be wrapped at the terminal's width
    }


@pytest.fixture
def platform(env: dict[str, str], swen_home: Path) -> Iterator[tuple[subprocess.Popen[str], Output]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "swen", "up", "--no-dashboard"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=swen_home,
    )
    output = Output(proc)
    try:
        yield proc, output
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _swen(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swen", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_swen_up_logs_events_not_requests_and_runs_once(
    platform: tuple[subprocess.Popen[str], Output], env: dict[str, str], swen_home: Path
) -> None:
    proc, output = platform
    output.wait_for(r"^swen up: started api")
    api = f"http://127.0.0.1:{env['SWEN_API_PORT']}"
    deadline = time.monotonic() + WAIT_S
    while True:  # the API takes a moment to listen
        try:
            if httpx.get(f"{api}/healthz", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "\n".join(output.lines)
        time.sleep(0.2)
    for _ in range(5):
        assert httpx.get(f"{api}/healthz", timeout=5).status_code == 200

    second = _swen(env, "up", "--no-dashboard")
    assert second.returncode == 4, second.stderr
    assert (
        f"error: the engine is already running on {swen_home.resolve()}: pid {proc.pid}, since "
        in second.stderr
    )
    assert "command `swen up --no-dashboard`" in second.stderr

    paused = _swen(env, "automation", "pause", "--by", "ops", "--reason", "freeze")
    assert paused.returncode == 0, paused.stderr
    injected = _swen(env, "scenario", "inject", "outage", "--provider", "aws", "--duration", "60")
    assert injected.returncode == 0, injected.stderr
    output.wait_for(
        r"^\d\d:\d\d:\d\d automation paused by ops: freeze "
        r"\(no automatic applies until `swen automation resume`\)$"
    )
    output.wait_for(r"^\d\d:\d\d:\d\d scenario  outage on aws/\* for 60 s injected$")

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=120) == 0
    output.join()
    assert not [line for line in output.lines if "HTTP/1.1" in line]  # no access log
    assert not [line for line in output.lines if "alembic" in line]
    assert "swen up: stopped engine" in output.lines
