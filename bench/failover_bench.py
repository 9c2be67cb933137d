"""Failover benchmark: engine replicas on PostgreSQL, kill -9 of the leader, time until the standby leads.

Starts two real `swen engine` processes (advising only, `--no-act`, engine interval 1 s) on a throwaway
PostgreSQL database (SWEN_TEST_PG_URL: `source scripts/test-services.sh`). Each round kills the
leader with SIGKILL and measures, on this machine's clock:

- **elected**: until the standby's `leadership` event (it took the lease over, fencing token + 1);
- **acting**: until the first `engine_cycle` event written under the new token (its first fenced write).

then starts a fresh standby for the next round. Prints every round, the median of the rounds and, as
the baseline measured in the same run, a cold start: how long a first engine takes from its process
start to its first cycle (imports, migrations, election with no previous leader). The lease is
SWEN_LEADER_LEASE_S (default 3 s); the failover is at most the lease's remainder plus one standby
poll (0.5 s) plus the loop's wake-up.

    .venv/bin/python bench/failover_bench.py [--rounds 5] [--lease 3]

Goal: median failover (acting) <= 5 s, and never over 15 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

from swen.domain.events import EventType  # noqa: E402
from swen.store.repository import Store  # noqa: E402

GOAL_S = 5.0
BOUND_S = 15.0
POLL_S = 0.02


def _engine(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "swen", "engine", "--no-act"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait(what: str, check: object, timeout: float = 120.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()  # type: ignore[operator]
        if value:
            return value
        time.sleep(POLL_S)
    raise SystemExit(f"timed out waiting for {what}")


class Log:
    """The audit log of the bench database, read incrementally."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.events: list = []  # type: ignore[type-arg]

    def refresh(self) -> list:  # type: ignore[type-arg]
        after = self.events[-1].id if self.events else 0
        self.events.extend(self.store.events_after(after, limit=10_000))
        return self.events

    def leader(self, token: int) -> int | None:
        """The pid holding ``token`` (from its leadership event), None before the election."""
        for e in self.refresh():
            if e.type == EventType.LEADERSHIP and e.payload["token"] == token:
                return int(e.payload["holder"].split(":")[-2])
        return None

    def cycled(self, token: int) -> bool:
        return any(
            e.type == EventType.ENGINE_CYCLE and (e.payload.get("leader") or {}).get("token") == token
            for e in self.refresh()
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lease", type=float, default=3.0, help="SWEN_LEADER_LEASE_S")
    args = parser.parse_args()
    admin = os.environ.get("SWEN_TEST_PG_URL")
    if not admin:
        raise SystemExit("needs SWEN_TEST_PG_URL (source scripts/test-services.sh)")
    import psycopg

    name = f"swen_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{admin.rsplit('/', 1)[0]}/{name}"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory() as home:
            env = {k: v for k, v in os.environ.items() if not k.startswith("SWEN_")}
            env.update({
                "PYTHONPATH": str(SRC), "SWEN_HOME": home, "SWEN_DATABASE_URL": url,
                "SWEN_ENGINE_INTERVAL_S": "1", "SWEN_LEADER_LEASE_S": str(args.lease),
            })  # fmt: skip
            store = Store.from_url(url)
            log = Log(store)
            started = time.monotonic()
            procs.append(_engine(env))
            _wait("the first engine's first cycle", lambda: log.cycled(1))
            cold = time.monotonic() - started
            procs.append(_engine(env))
            time.sleep(args.lease)  # the standby is up and polling
            elected: list[float] = []
            acting: list[float] = []
            for token in range(1, args.rounds + 1):
                leader = log.leader(token)
                victim = next(p for p in procs if p.pid == leader)
                killed = time.monotonic()
                os.kill(victim.pid, signal.SIGKILL)
                victim.wait()
                _wait("the standby's election", lambda t=token: log.leader(t + 1), timeout=60)
                elected.append(time.monotonic() - killed)
                _wait("the new leader's first cycle", lambda t=token: log.cycled(t + 1), timeout=60)
                acting.append(time.monotonic() - killed)
                print(f"round {token}: elected after {elected[-1]:.2f} s, acting after {acting[-1]:.2f} s")
                procs.append(_engine(env))  # the next standby
                time.sleep(args.lease)  # let it start and campaign (not counted)
            store.close()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    median_elected, median_acting = statistics.median(elected), statistics.median(acting)
    print(f"\nlease {args.lease:g} s, {args.rounds} rounds (kill -9 of the leader each time)")
    print(f"  elected: median {median_elected:.2f} s, max {max(elected):.2f} s")
    print(f"  acting:  median {median_acting:.2f} s, max {max(acting):.2f} s")
    print(f"  baseline (same run): a cold engine start to its first cycle took {cold:.2f} s; "
          f"failover / cold start = {median_acting / cold:.2f}")  # fmt: skip
    verdict = "meets" if median_acting <= GOAL_S and max(acting) <= BOUND_S else "MISSES"
    print(f"  goal: median <= {GOAL_S:g} s and never over {BOUND_S:g} s: {verdict}")


if __name__ == "__main__":
    main()
