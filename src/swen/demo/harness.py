"""Run the API and the dashboard as ``swen up`` does (two processes on loopback) and stop them again.

Used by ``python -m swen.demo.screenshots``, the browser test and the dashboard benchmark.
Both processes get the same SWEN_HOME; every port is a free loopback port; ``stop`` terminates only
the processes it started (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from swen.config import Settings
from swen.domain.errors import SwenError

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


class HarnessError(SwenError):
    """The API or the dashboard did not come up."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningPlatform:
    api_url: str
    dashboard_url: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def log_tail(self, chars: int = 3000) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}" for p in self.logs if p.exists()
        )


def _env(settings: Settings, api_port: int, key: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEN_")}
    env.update(
        SWEN_HOME=str(settings.home.resolve()),
        SWEN_API_HOST="127.0.0.1",
        SWEN_API_PORT=str(api_port),
        SWEN_API_URL=f"http://127.0.0.1:{api_port}",
        SWEN_DASHBOARD_REFRESH_S=str(settings.dashboard_refresh_s),
    )
    if key is not None:
        env["SWEN_API_KEY"] = key
    if settings.database_url:
        env["SWEN_DATABASE_URL"] = settings.database_url
    return env


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HarnessError(f"{what} exited with {proc.returncode} before answering at {url}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise HarnessError(f"{what} did not answer at {url} within {timeout_s:.0f} s")


def _spawn(argv: list[str], env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop(platform: RunningPlatform, grace_s: float = 10.0) -> None:
    for proc in platform.processes:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + grace_s
    for proc in platform.processes:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def running_platform(settings: Settings, key: str, *, timeout_s: float = 60.0) -> Iterator[RunningPlatform]:
    """``swen api`` and ``swen dashboard`` as subprocesses on free ports, stopped on exit."""
    api_port, dash_port = free_port(), free_port()
    env = _env(settings, api_port, key)
    logdir = Path(tempfile.mkdtemp(prefix="swen-harness-"))
    swen = [sys.executable, "-m", "swen"]
    platform = RunningPlatform(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{dash_port}")
    try:
        for name, argv in (
            ("api", [*swen, "api", "--port", str(api_port)]),
            ("dashboard", [*swen, "dashboard", "--port", str(dash_port)]),
        ):
            path = logdir / f"{name}.log"
            platform.logs.append(path)
            with path.open("wb") as log:
                platform.processes.append(_spawn(argv, env, log))
        _wait_http(platform.api_url + "/healthz", platform.processes[0], timeout_s, "the API")
        _wait_http(
            platform.dashboard_url + "/_stcore/health", platform.processes[1], timeout_s, "the dashboard"
        )
        yield platform
    finally:
        stop(platform)


@contextmanager
def running_api(settings: Settings, *, timeout_s: float = 60.0) -> Iterator[RunningPlatform]:
    """``swen api`` alone as a subprocess on a free loopback port, stopped on exit (no dashboard:
    ``dashboard_url`` is empty)."""
    api_port = free_port()
    log_path = Path(tempfile.mkdtemp(prefix="swen-harness-")) / "api.log"
    platform = RunningPlatform(f"http://127.0.0.1:{api_port}", "", logs=[log_path])
    argv = [sys.executable, "-m", "swen", "api", "--port", str(api_port)]
    try:
        with log_path.open("wb") as log:
            platform.processes.append(_spawn(argv, _env(settings, api_port, None), log))
        _wait_http(platform.api_url + "/healthz", platform.processes[0], timeout_s, "the API")
        yield platform
    finally:
        stop(platform)


def chromium_missing_reason() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright; no browser download is needed)"
    return None
