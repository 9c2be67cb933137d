"""`swen up --production`, the production topology rehearsed on one machine, for real: PostgreSQL,
three `swen api` replicas behind a real haproxy, two engines electing a leader, the simulator,
Prometheus and Alertmanager (and the dashboard).

- Killing one API replica (SIGKILL) under load through haproxy fails only requests that were in
  flight at the kill: no more failures than the load's concurrency (the connections open at that
  moment), none before the kill, all in one burst at the kill; every request after that burst
  succeeds on the two other replicas; then the supervisor restarts the replica and haproxy sends it
  traffic again.
- The whole rehearsal, with its private PostgreSQL cluster under SWEN_HOME, starts every role and
  stops cleanly on Ctrl-C: exit 0, the database stopped last, no process left.
- A missing program stops it before anything starts, naming the program and its Debian package.

The two tests that start the rehearsal take minutes: they are marked `rehearsal` and run by
`make rehearsal-test` (a step of .ci/run after `make test`), not by `make test`. The quick checks of
what stops it before anything starts stay in `make test`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from support.http import bearer
from support.processes import run_swen, swen_env, wait_for
from support.rehearsal import (
    Rehearsal,
    alive,
    need_rehearsal_programs,
    processes_mentioning,
    rehearsal_env,
)
from swen.domain.keys import Role
from swen.store.keys import ApiKeyRepository
from swen.store.repository import Store

CONCURRENCY = 8
RESTART_BOUND_S = 120.0


@dataclass(frozen=True)
class Outcome:
    client: int
    started: float
    ended: float
    ok: bool
    served_by: str | None
    detail: str


class Load:
    """``CONCURRENCY`` clients, each with its own keep-alive connection to haproxy, alternating a
    liveness check and a database read (GET /services with a viewer key) until stopped."""

    def __init__(self, front: str, key: str) -> None:
        self.front, self.key = front, key
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(CONCURRENCY)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _client(self, number: int) -> None:
        paths = ("/healthz", "/services")
        with httpx.Client(base_url=self.front, headers=bearer(self.key), timeout=30) as client:
            n = 0
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    response = client.get(paths[n % 2])
                    ok, served_by = response.status_code == 200, response.headers.get("x-served-by")
                    detail = f"{response.status_code} {response.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, served_by, detail = False, None, f"{type(exc).__name__}: {exc}"
                with self._lock:
                    self.outcomes.append(Outcome(number, started, time.monotonic(), ok, served_by, detail))
                n += 1

    def since(self, moment: float) -> list[Outcome]:
        with self._lock:
            return [o for o in self.outcomes if o.started >= moment]


@pytest.fixture
def rehearsal(pg_url: str, tmp_path: Path) -> Iterator[tuple[Rehearsal, Store]]:
    """`swen up --production --no-dashboard` on the test's PostgreSQL database (SWEN_DATABASE_URL)."""
    need_rehearsal_programs()
    env = rehearsal_env(tmp_path / "home", database_url=pg_url, rate_limit_per_minute="10000000")
    running = Rehearsal(env, "--no-dashboard")
    store = Store.from_url(pg_url, migrate=False)
    try:
        yield running, store
    finally:
        running.stop()
        store.close()


@pytest.mark.rehearsal
def test_killing_one_api_replica_under_load_fails_only_the_requests_in_flight(
    rehearsal: tuple[Rehearsal, Store],
) -> None:
    running, store = rehearsal
    victim = running.pids()["api-2"]
    key = ApiKeyRepository(store).create("load", Role.VIEWER)[1]

    with Load(running.front, key) as load:

        def every_replica_served() -> bool:
            return {o.served_by for o in load.since(0) if o.ok} >= {"api-1", "api-2", "api-3"}

        wait_for("the load to reach every replica", every_replica_served, timeout=60)
        kill_sent = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        # dead once the kernel tore every thread down and closed its sockets (a zombie, or reaped):
        # until then its listening socket still takes connections, which then fail with it
        wait_for("the killed replica to die", lambda: not alive(victim), timeout=30, every=0.001)
        killed_at = time.monotonic()
        time.sleep(3)  # the load goes on for a while on the two other replicas
        during = load.since(0)

        failed = [o for o in during if not o.ok]
        assert len(failed) <= CONCURRENCY, ([o.detail for o in failed], _log(running, "haproxy"))
        assert all(o.ended >= kill_sent for o in failed), failed  # nothing failed before the kill
        burst_over = max((o.ended for o in failed), default=killed_at)
        after = [o for o in during if o.started > burst_over]
        assert all(o.ok for o in after), [o.detail for o in after if not o.ok]  # no failure after it
        burst_ms, death_ms = 1000 * (burst_over - kill_sent), 1000 * (killed_at - kill_sent)
        print(f"{len(during)} requests, {len(failed)} failed, the last {burst_ms:.0f} ms after the kill; "
              f"{len(after)} after that, all answered; the replica died in {death_ms:.1f} ms")  # fmt: skip
        assert len(after) > 100
        if any(o.served_by == "api-2" for o in after):  # only once the supervisor started it again
            assert len(_starts(running, "api-2")) == 2
        assert {o.served_by for o in after} <= {"api-1", "api-2", "api-3"}

        # the supervisor restarts the replica, and haproxy's health checks take it back
        wait_for("the supervisor to restart api-2", lambda: len(_starts(running, "api-2")) == 2,
                 timeout=RESTART_BOUND_S)  # fmt: skip
        assert "api-2 exited with -9; restarting in 2 s" in "\n".join(running.proc.lines)
        back_from = time.monotonic()
        wait_for(
            "haproxy to send requests to the restarted api-2",
            lambda: any(o.served_by == "api-2" for o in load.since(back_from)),
            timeout=RESTART_BOUND_S,
        )
        assert all(o.ok for o in load.since(back_from))
    assert running.stop() == 0, running.proc.output()


def _log(running: Rehearsal, name: str) -> str:
    return (running.home / "rehearsal" / "logs" / f"{name}.log").read_text()[-40000:]


def _starts(running: Rehearsal, name: str) -> list[str]:
    """The supervisor's "started NAME (pid N)" lines so far."""
    return [line for line in list(running.proc.lines) if f"swen up: started {name} (pid" in line]


@pytest.fixture
def reachable_home() -> Iterator[Path]:
    """A home the postgres user can reach when the tests run as root (pytest's tmp_path is 0700)."""
    base = Path(tempfile.mkdtemp(prefix="swen-rehearsal-"))
    home = base / "home"
    home.mkdir()
    for path in (base, home):  # whatever the umask
        path.chmod(path.stat().st_mode | stat.S_IXOTH | stat.S_IROTH)
    try:
        yield home
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.rehearsal
def test_the_rehearsal_starts_every_role_on_a_private_cluster_and_stops_cleanly(
    reachable_home: Path,
) -> None:
    need_rehearsal_programs()
    running = Rehearsal(rehearsal_env(reachable_home))
    try:
        pids = running.pids()
        assert sorted(pids) == sorted(
            ["postgres", "api-1", "api-2", "api-3", "haproxy", "engine-1", "engine-2", "simulator",
             "alertmanager", "prometheus", "dashboard"]
        )  # fmt: skip
        assert all(alive(pid) for pid in pids.values()), pids
        out = running.proc.output()
        assert "SWEN production rehearsal" in out and "Ctrl-C here, or kill -TERM" in out
        assert httpx.get(f"{running.front}/healthz", timeout=10).headers["x-served-by"].startswith("api-")
        prom = f"http://127.0.0.1:{_port(running, 'prometheus_port')}"

        def scraped() -> bool:
            targets = httpx.get(f"{prom}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
            return sorted(t["labels"]["replica"] for t in targets if t["health"] == "up") == [
                "api-1", "api-2", "api-3"
            ]  # fmt: skip

        wait_for("Prometheus to scrape the three replicas", scraped, timeout=120, every=1)
        logs = reachable_home / "rehearsal" / "logs"
        wait_for(
            "one engine to be elected",
            lambda: (
                sum("elected engine leader" in (logs / f"engine-{i}.log").read_text() for i in (1, 2)) == 1
            ),
            timeout=120,
        )
        dashboard = f"http://127.0.0.1:{running.env['SWEN_DASHBOARD_PORT']}"
        assert httpx.get(f"{dashboard}/_stcore/health", timeout=10).status_code == 200
    finally:
        code = running.stop()
    assert code == 0, running.proc.output()
    stopped = [line for line in running.proc.lines if "swen up: stopped " in line]
    assert len(stopped) == len(pids) and stopped[-1].endswith("stopped postgres"), stopped
    assert not [name for name, pid in pids.items() if alive(pid)]
    assert processes_mentioning(str(reachable_home)) == []


def _port(running: Rehearsal, name: str) -> int:
    return int(json.loads(running.env["SWEN_REHEARSAL"])[name])


def test_a_missing_program_is_named_with_its_debian_package(tmp_path: Path) -> None:
    only_git = tmp_path / "bin"  # a PATH with git alone (the CLI needs it to start)
    only_git.mkdir()
    (only_git / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    env = {**swen_env(tmp_path / "home"), "PATH": str(only_git)}
    done = run_swen(env, "up", "--production")
    assert done.returncode != 0
    err = " ".join(done.stderr.split())
    assert "cannot find haproxy" in err and "Debian package haproxy" in err, done.stderr
    assert "apt-get install haproxy prometheus prometheus-alertmanager" in err, done.stderr
    assert not (tmp_path / "home" / "rehearsal").exists()  # nothing written before the check


def test_a_port_in_use_is_named_with_its_setting_before_anything_starts(tmp_path: Path) -> None:
    need_rehearsal_programs()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = rehearsal_env(
            tmp_path / "home", api_port=str(port), database_url="postgresql://swen@127.0.0.1:1/x"
        )
        done = run_swen(env, "up", "--production")
    assert done.returncode == 1
    assert f"port(s) already in use on 127.0.0.1: {port} (api_port (haproxy))" in " ".join(
        done.stderr.split()
    )
    assert not (tmp_path / "home" / "rehearsal" / "topology.json").exists()
