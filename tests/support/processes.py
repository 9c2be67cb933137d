"""Real SWEN processes for replica tests: start ``python -m swen ...`` with an environment, collect
its output in a thread, wait (bounded) for a condition, and stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

SRC = Path(__file__).resolve().parents[2] / "src"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def swen_env(home: Path, **settings: str) -> dict[str, str]:
    """The environment of a swen process: this checkout's source, ``home``, and SWEN_<KEY> settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEN_")}
    env.update({"PYTHONPATH": str(SRC), "SWEN_HOME": str(home), "COLUMNS": "120"})
    env.update({f"SWEN_{key.upper()}": value for key, value in settings.items()})
    return env


def run_swen(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swen", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


class SwenProcess:
    """One ``swen`` process with its output (stdout and stderr merged) collected as it comes."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "swen", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines[-60:])

    def signal(self, sig: signal.Signals) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self) -> None:
        """SIGINT, then SIGKILL if it does not end; also wakes a stopped (SIGSTOP) process."""
        if self.proc.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=10)


def wait_for(what: str, check: Callable[[], T | None], *, timeout: float, every: float = 0.1) -> T:
    """Poll ``check`` until it returns something true; AssertionError naming ``what`` after ``timeout``
    seconds (a bound on waiting, not a measurement)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)
