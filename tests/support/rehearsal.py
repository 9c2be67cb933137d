"""A running ``swen up --production`` for the rehearsal tests: its environment on free loopback ports,
the process with its output, the topology it writes (components, pids, addresses), and a check that
none of its processes is left."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from support.processes import SwenProcess, free_port, swen_env, wait_for

START_BOUND_S = 300.0
"""A bound on waiting for every component (the machine may be busy), not a measurement."""


def need_rehearsal_programs() -> None:
    missing = [p for p in ("haproxy", "prometheus", "prometheus-alertmanager") if shutil.which(p) is None]
    if missing:
        message = f"needs {', '.join(missing)} (apt-get install haproxy prometheus prometheus-alertmanager)"
        if os.environ.get("CI"):  # CI installs them (.ci/run): a missing one is a failure there
            pytest.fail(f"CI {message}")
        pytest.skip(message)


def rehearsal_env(home: Path, **settings: str) -> dict[str, str]:
    """``swen up --production``'s environment: ``home``, free ports for every component, ``settings``."""
    ports = {"api_ports": [free_port() for _ in range(3)], "postgres_port": free_port(),
             "prometheus_port": free_port(), "alertmanager_port": free_port()}  # fmt: skip
    chosen = {
        "api_port": str(free_port()),
        "dashboard_port": str(free_port()),
        "rehearsal": json.dumps(ports),
    }
    return swen_env(home, **{**chosen, **settings})


class Rehearsal:
    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.env = env
        self.home = Path(env["SWEN_HOME"])
        self.proc = SwenProcess(env, "up", "--production", *args)

    @property
    def front(self) -> str:
        return f"http://127.0.0.1:{self.env['SWEN_API_PORT']}"

    def topology(self) -> dict[str, Any]:
        """The components as the rehearsal wrote them once everything started (waits for it)."""
        path = self.home / "rehearsal" / "topology.json"

        def written() -> dict[str, Any] | None:
            if self.proc.proc.poll() is not None:
                raise AssertionError(f"swen up --production exited:\n{self.proc.output()}")
            return json.loads(path.read_text()) if path.is_file() else None

        try:
            return wait_for("every component to start", written, timeout=START_BOUND_S, every=0.5)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.proc.output()}") from None

    def pids(self) -> dict[str, int]:
        return {c["component"]: c["pid"] for c in self.topology()["components"]}

    def stop(self) -> int:
        self.proc.stop()
        return int(self.proc.proc.returncode)


def alive(pid: int) -> bool:
    """True while ``pid`` is a process that has not exited (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes whose command line or environment names ``text`` (the home)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if (text in cmdline or text in environ) and alive(int(entry.name)):
            found.append(f"{entry.name}: {cmdline.strip()}")
    return found
