"""Acting at scale: one engine cycle with 1,000 new recommendations, serial acting vs the action queue.

One process, one SQLite store built once and copied for each variant, so all three start alike:
  floor   the cycle advising only (no actuator): telemetry -> engine -> record -> verify -> heal;
  before  the cycle as it was: each recommendation carried out inside the cycle, one after the other
          (``SerialLoop`` below keeps the old ``_act``/``_resume``), through a stand-in driver;
  after   the cycle as it is: each recommendation queued (``store.actions``) while the engine's
          ``SWEN_ACTION_WORKERS`` workers drain the queue through the same stand-in driver.

The stand-in driver costs ``--action-cost-s`` per proposal (default 0.04 s: what each of the issue's
1,000 failing proposals cost; a real one, git push + merge request + pipeline, costs ~3.7 s). Git and
Terraform are benched elsewhere (bench/gitops_week_bench.py, bench/pipeline_bench.py); here only the
cycle's own time matters. Prints each cycle's time, before/after and after/floor, and what "before"
would take at 3.7 s per move (cycle + N x 3.7 s; "after" does not depend on it).

    .venv/bin/python bench/action_queue_bench.py [--services 1000] [--action-cost-s 0.04]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.builders import service, telemetry_sample  # the tests' consistent builders
from swen.config import Settings
from swen.domain.decision import Decision
from swen.domain.errors import FencedError, SwenError
from swen.healing.remediation import HealingPlan
from swen.loop import CycleReport, EngineLoop
from swen.store.actions import ActionQueue
from swen.store.repository import Store

T0 = datetime(2026, 1, 5, tzinfo=UTC)
REAL_ACTION_S = 3.7
"""A real proposal (git push, merge request, pipeline), as measured in issue 12."""


class StandInDriver:
    """Costs ``cost_s`` per proposal (sleeping: the time a git push and a pipeline keep a caller)."""

    def __init__(self, cost_s: float) -> None:
        self.cost_s = cost_s
        self.done = 0
        self._lock = threading.Lock()

    def _work(self) -> str:
        time.sleep(self.cost_s)
        with self._lock:
            self.done += 1
        return "waiting"

    def propose(self, decision: Decision) -> str:
        return self._work()

    def withdraw(self, decision_id: str, reason: str) -> None:
        return None

    def resume(self, *, acting: bool = True) -> None:
        return None

    def carry(self, decision_id: str) -> str:
        return self._work()

    def carry_rollback(self, mr_id: int) -> str:
        return self._work()


class SerialLoop(EngineLoop):
    """The loop before the queue: ``_act`` proposes inside the cycle, ``_resume`` resumes inline."""

    def _resume(self, report: CycleReport) -> None:
        if self.actuator is not None and self._leads():
            self.actuator.resume(acting=self._may_act())

    def _act(self, decision: Decision, report: CycleReport, plan: HealingPlan) -> None:
        if not self._may_act():
            return
        assert self.actuator is not None
        try:
            self.actuator.propose(decision)
        except FencedError:
            raise
        except SwenError as exc:
            report.errors.append(f"{decision.service}: {exc}")


def settings_for(home: Path) -> Settings:
    # hourly ticks (the advantage has led long enough to be forecast) and a lower confidence floor, so
    # that every service of the synthetic fleet gets a recommendation in the same cycle
    return Settings(home=home, sim_speed=1e9, sim_interval_s=3600, window_size=10, min_confidence=0.2)


def build(home: Path, n: int) -> None:
    """A fleet of ``n`` services on aws/us-east-1, each with a clearly cheaper alternative."""
    settings = settings_for(home)
    with Store.open(settings) as store:
        store.upsert_services([service(f"svc-{i:05d}") for i in range(n)])
        for k in range(settings.window_size + 2):
            ts = T0 + timedelta(seconds=settings.sim_interval_s * k)
            store.insert_samples(
                [
                    sample
                    for i in range(n)
                    for sample in (
                        telemetry_sample(f"svc-{i:05d}", "aws/us-east-1", ts=ts, hourly=0.40),
                        telemetry_sample(
                            f"svc-{i:05d}",
                            "alibaba/ap-southeast-1",
                            ts=ts,
                            hourly=0.10,
                            instance_type="ecs.g7.large",
                        ),
                    )
                ]
            )
        EngineLoop(settings, store)._ensure_placements(store.list_services())  # first seen, as warm-up


def run_variant(name: str, base: Path, n: int, cost_s: float) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix=f"swen-aq-{name}-"))
    shutil.copyfile(base / "swen.db", home / "swen.db")
    settings = settings_for(home)
    store = Store.open(settings)
    driver = StandInDriver(cost_s) if name != "floor" else None
    cls = SerialLoop if name == "before" else EngineLoop
    loop = cls(settings, store, actuator=driver)
    # propose to a person at once (no patience, and no review cost that would hold small moves)
    loop.params = loop.params.model_copy(update={"manual_patience_s": 0.0, "review_cost_usd": 0.0})
    if name == "after":
        assert loop.workers is not None
        loop.workers.start()  # what run() does
    started = time.perf_counter()
    report = loop.cycle()
    cycle_s = time.perf_counter() - started
    acted = driver.done if driver is not None else 0
    drained_s = None
    if name == "after":
        assert loop.workers is not None
        queue = ActionQueue(store)
        while queue.counts()["pending"] or queue.counts()["running"]:
            time.sleep(0.2)
        drained_s = time.perf_counter() - started
        loop.workers.stop(timeout=30)
    store.close()
    shutil.rmtree(home, ignore_errors=True)
    return {
        "name": name,
        "cycle_s": cycle_s,
        "recommendations": len(report.recommendations),
        "queued": len(report.queued),
        "acted_in_cycle": acted,
        "drained_s": drained_s,
        "errors": len(report.errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--action-cost-s", type=float, default=0.04)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="swen-aq-base-"))
    t = time.perf_counter()
    build(base, args.services)
    print(
        f"fleet of {args.services} services, {args.services} recommendations due (built in "
        f"{time.perf_counter() - t:.1f} s); stand-in driver {args.action_cost_s * 1000:.0f} ms per move"
    )
    results = {
        name: run_variant(name, base, args.services, args.action_cost_s)
        for name in ("floor", "before", "after")
    }
    for r in results.values():
        extra = f", queue drained by the workers after {r['drained_s']:.1f} s" if r["drained_s"] else ""
        print(
            f"  {r['name']:<6} cycle {r['cycle_s']:7.2f} s  recommendations {r['recommendations']:5d}  "
            f"carried out inside the cycle {r['acted_in_cycle']:5d}  queued {r['queued']:5d}  "
            f"errors {r['errors']}{extra}"
        )
    before, after, floor = (results[k]["cycle_s"] for k in ("before", "after", "floor"))
    print(f"before/after: {before / after:.1f}x   after/floor (advising only): {after / floor:.2f}x")
    at_real = floor + results["before"]["recommendations"] * REAL_ACTION_S
    print(
        f"before at {REAL_ACTION_S} s per real move: ~{at_real / 60:.0f} min per cycle; after: {after:.1f} s"
    )
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
