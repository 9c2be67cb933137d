"""Engine replicas on one PostgreSQL store, as real processes (simulator, two `swen engine`, git and
Terraform for real): one leads, the standby takes over when the leader is killed (kill -9), nothing the
leader decided is lost and no merge request or apply happens twice (read from the audit log); a
leader frozen (SIGSTOP) past its lease writes nothing once it wakes (SIGCONT).

Waits are bounded (they fail the test when exceeded) but nothing here measures time:
bench/failover_bench.py does.
"""

from __future__ import annotations

import shutil
import signal
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.processes import SwenProcess, run_swen, swen_env, wait_for
from swen.domain.decision import IN_FLIGHT_STATUSES
from swen.domain.events import EventType
from swen.store.records import EventRecord
from swen.store.repository import Store

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform on PATH")

FAILOVER_BOUND_S = 15.0
"""The issue's bound: a standby leads within 15 s of the leader's death (the goal, 5 s, is benched)."""
SLOW_S = 300.0
"""Bound on waits for the platform's own work (windows filling, pipelines with Terraform)."""


@dataclass
class Replicas:
    env: dict[str, str]
    store: Store
    procs: list[SwenProcess]

    def start(self, *args: str) -> SwenProcess:
        proc = SwenProcess(self.env, *args)
        self.procs.append(proc)
        return proc

    def events(self, type_: EventType | None = None) -> list[EventRecord]:
        out: list[EventRecord] = []
        while True:
            batch = self.store.events_after(out[-1].id if out else 0, limit=5000)
            out.extend(batch)
            if len(batch) < 5000:
                break
        return [e for e in out if type_ is None or e.type == type_]

    def elections(self) -> list[dict[str, Any]]:
        return [{**e.payload, "event_id": e.id} for e in self.events(EventType.LEADERSHIP)]

    def elected(self, proc: SwenProcess, token: int) -> dict[str, Any] | None:
        return next(
            (e for e in self.elections() if e["token"] == token and _pid(e["holder"]) == proc.pid), None
        )

    def dump(self) -> str:
        return "\n\n".join(f"$ swen {' '.join(p.args)} (pid {p.pid})\n{p.output()}" for p in self.procs)


def _pid(holder: str) -> int:
    return int(holder.split(":")[-2])


@pytest.fixture
def replicas(pg_url: str, tmp_path: Path) -> Iterator[Replicas]:
    home = tmp_path / "home"
    env = swen_env(home, database_url=pg_url, sim_speed="25", engine_interval_s="1", leader_lease_s="3")
    init = run_swen(env, "init")
    assert init.returncode == 0, init.stderr
    store = Store.from_url(pg_url, migrate=False)
    running = Replicas(env, store, [])
    try:
        yield running
    finally:
        for proc in running.procs:
            proc.stop()
        store.close()


def _cycles_of(replicas: Replicas, token: int) -> list[EventRecord]:
    return [
        e
        for e in replicas.events(EventType.ENGINE_CYCLE)
        if (e.payload.get("leader") or {}).get("token") == token
    ]


def test_kill_9_of_the_leader_the_standby_carries_on_and_nothing_is_done_twice(replicas: Replicas) -> None:
    replicas.start("simulate")
    first = replicas.start("engine")
    wait_for("the first engine to be elected", lambda: replicas.elected(first, 1), timeout=SLOW_S)
    second = replicas.start("engine")
    try:
        wait_for(
            "the leader to open a merge request",
            lambda: any(e.payload["action"] == "opened" for e in replicas.events(EventType.MR)),
            timeout=SLOW_S,
        )
        assert replicas.elected(second, 2) is None, "the standby took over from a live leader"

        first.signal(signal.SIGKILL)
        killed_at = replicas.events()[-1].id
        decided = {e.decision_id for e in replicas.events(EventType.DECISION)}
        wait_for("the standby's election", lambda: replicas.elected(second, 2), timeout=FAILOVER_BOUND_S)
        wait_for("a cycle of the new leader", lambda: _cycles_of(replicas, 2), timeout=SLOW_S)

        def carried_on() -> bool:  # every decision of the dead leader is past its in-flight steps
            stuck = [d for d in replicas.store.list_decisions(limit=1000) if d.decision.id in decided]
            return all(d.status not in IN_FLIGHT_STATUSES for d in stuck)

        wait_for("the new leader to carry on every decision", carried_on, timeout=SLOW_S)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{replicas.dump()}") from None

    events = replicas.events()
    assert {e.decision_id for e in events if e.type == EventType.DECISION} >= decided  # none lost
    opened = Counter(
        e.decision_id for e in events if e.type == EventType.MR and e.payload["action"] == "opened"
    )
    applied = Counter(
        e.decision_id for e in events
        if e.type == EventType.DECISION_STATUS and e.payload["to"] == "applied"
    )  # fmt: skip
    assert opened and max(opened.values()) == 1, opened
    assert not applied or max(applied.values()) == 1, applied
    # after the kill, only the new leader (token 2) wrote engine cycles
    late = [e for e in events if e.type == EventType.ENGINE_CYCLE and e.id > killed_at]
    assert late and {e.payload["leader"]["token"] for e in late} == {2}
    assert replicas.store.verify_audit().ok


def test_a_leader_frozen_past_its_lease_writes_nothing_when_it_wakes(replicas: Replicas) -> None:
    replicas.start("simulate")
    first = replicas.start("engine")
    wait_for("the first engine to be elected", lambda: replicas.elected(first, 1), timeout=SLOW_S)
    second = replicas.start("engine")
    try:
        wait_for("a cycle of the first leader", lambda: _cycles_of(replicas, 1), timeout=SLOW_S)
        first.signal(signal.SIGSTOP)
        took_over = wait_for("the standby's election", lambda: replicas.elected(second, 2), timeout=SLOW_S)
        first.signal(signal.SIGCONT)
        wait_for(
            "the woken leader to stand by",
            lambda: any("standing by" in line or "deposed" in line for line in first.lines),
            timeout=SLOW_S,
        )
        wait_for("cycles of the new leader", lambda: len(_cycles_of(replicas, 2)) >= 3, timeout=SLOW_S)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{replicas.dump()}") from None

    after = [e for e in replicas.events() if e.id > took_over["event_id"]]
    cycles = [e for e in after if e.type == EventType.ENGINE_CYCLE]
    assert cycles and all(e.payload["leader"]["token"] == 2 for e in cycles)
    assert first.proc.poll() is None, "the deposed leader should stand by, not exit"
    assert replicas.elected(first, 3) is None  # it did not take the lease back either
    assert replicas.store.verify_audit().ok
