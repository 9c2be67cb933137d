"""The closed loop: the only place that runs telemetry -> engine -> gitops -> pipeline -> verification.

One :class:`EngineLoop` per engine process (``swen engine``, joined into ``swen up``). Each cycle:

1. reads the services, the applied placements and every telemetry tick the engine has not seen yet
   (so the winner history counts telemetry cycles, whatever the engine interval);
2. feeds each tick into the sample window and runs the pure engine (``engine.decide.evaluate``);
3. stores the last tick's recommendations (a recommendation identical to the service's open one is not
   stored again) and queues each new one (``store.actions``) for the leader's workers, which carry it
   through the GitOps committer and the pipeline runner (``moves.queue.ActionWorkers``), unless
   automation is paused or the infra repository does not exist (then the loop only advises). The
   cycle never waits for git, a merge request or Terraform: a thousand pending moves cost it one
   batched insert, and the change budget decides how many are in flight;
4. verifies applied moves from the telemetry of the new placement (``engine.verification``);
   self-healing (``swen.healing``) runs around these steps: the new ticks feed the engine's own anomaly
   detector (incidents), open incidents become the engine's ``emergency`` and ``quarantined`` inputs,
   emergency decisions pass the loop guards before they are acted on, and verified or failed ones
   resolve, retry or escalate their incidents (see ``swen.healing.remediation``);
5. writes ``$SWEN_HOME/ai_decisions.json`` atomically, beats its heartbeat, appends an
   ``engine_cycle`` event.

Time is simulated time: "now" is the newest sample's timestamp, so an accelerated clock works.

A cycle called on its own (``cycle()``: tests, ``swen engine --once``, the demo seed) works the queue
in its own thread where it used to act, so it still carries its moves out before it returns; the running
engine (``run()``) leaves the queue to its ``SWEN_ACTION_WORKERS`` workers.

Replicas: with a :class:`~swen.leadership.Leadership`, only the elected engine cycles and acts; a
standby waits for the lease and starts from a fresh window when elected. Every write of the leader is
fenced in the store (``Store.fence``), and before each action outside the store (a proposal, a
withdrawal, an apply) the loop checks that its lease has not run out. A write refused by the fence
(``FencedError``) ends the cycle and the process stands by again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from swen.config import Settings
from swen.domain.clock import utcnow
from swen.domain.decision import (
    WAITING_STATUSES,
    Decision,
    DecisionAction,
    DecisionStatus,
)
from swen.domain.errors import FencedError, SwenError
from swen.domain.events import EventType
from swen.domain.models import Placement, Service
from swen.domain.providers import PROVIDERS
from swen.domain.sample_columns import SampleColumns
from swen.engine.calibration import table_from_dict
from swen.engine.confidence import WinnerHistory
from swen.engine.decide import EngineInputs, EngineResult, evaluate
from swen.engine.fleet import gpu_models_by_placement
from swen.engine.forecast import AdvantageState
from swen.engine.params import EngineParams
from swen.engine.summary import decisions_document
from swen.engine.window import SampleWindow
from swen.healing.detection import AnomalyWatch
from swen.healing.remediation import Healer, HealingPlan
from swen.leadership import Leadership
from swen.moves import automation
from swen.moves.lifecycle import Lifecycle
from swen.moves.queue import (
    ActionResult,
    ActionWorkers,
    action_for,
    engine_owner,
    owed_actions,
    queue_view,
)
from swen.moves.review_policy import OpenMove, ReviewAction, ReviewPolicy
from swen.moves.verification import Verifier
from swen.store.actions import ActionQueue
from swen.store.exports import atomic_write_json
from swen.store.records import PlacementRecord
from swen.store.repository import Store
from swen.store.state import EngineHeartbeat
from swen.telemetry.calibration import load_calibration_data
from swen.telemetry.catalog import Catalog
from swen.telemetry.ledger import LiveLedger
from swen.telemetry.price_versions import CatalogFollower

_log = logging.getLogger(__name__)

FULL_EXPORT_MAX_SERVICES = 500
"""Above this many services ai_decisions.json lists recommendations only (not every STAY ranking)."""
APPROVAL_POLL_S = 1.0
"""Between cycles the engine looks this often for approvals recorded by the API or CLI to apply."""


@dataclass
class CycleReport:
    """What one engine cycle did (plain data for the CLI and the event log)."""

    sim_time: datetime | None = None
    ticks: int = 0
    services: int = 0
    recommendations: list[str] = field(default_factory=list)
    proposed_mrs: list[int] = field(default_factory=list)
    queued: list[str] = field(default_factory=list)
    """Actions this cycle put on the queue (``propose:<decision>``, ``apply:<decision>``, ...)."""
    verified: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    incidents_remediating: list[int] = field(default_factory=list)
    incidents_resolved: list[int] = field(default_factory=list)
    incidents_retried: list[int] = field(default_factory=list)
    incidents_escalated: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    note: str | None = None
    queue: dict[str, Any] | None = None
    """The action queue after the cycle: pending and running actions, and why the next one waits
    (``waiting: change budget full (20 open MRs)``), or None when the engine does not act."""
    stood_by: bool = False
    """Another engine led: this one did nothing (``run(once=True)`` with leader election)."""


class Actuator(Protocol):
    """Carries decisions out: ``swen.moves.driver.MoveDriver`` (committer, pipeline, lifecycle)."""

    def propose(self, decision: Decision) -> Any:
        """Propose a MIGRATE decision (MR + pipeline)."""

    def withdraw(self, decision_id: str, reason: str) -> Any:
        """Close the MR of a decision still waiting for review that the engine no longer recommends."""

    def resume(self, *, acting: bool = True) -> Any:
        """Carry on every move still owed work (after a crash, a restart, or a recorded approval)."""

    def carry(self, decision_id: str) -> Any:
        """Carry one queued decision on from its stored status (``moves.queue`` workers)."""

    def carry_rollback(self, mr_id: int) -> Any:
        """Apply one queued, approved rollback MR."""


class EngineLoop:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        catalog: Catalog | None = None,
        actuator: Actuator | None = None,
        anomaly_detection: bool = True,
        leadership: Leadership | None = None,
    ) -> None:
        self.settings = settings
        self.leadership = leadership
        self.store = store
        # prices: the store's active catalog version, followed every cycle (a pinned catalog: none)
        self._prices: CatalogFollower | None = None
        if catalog is None:
            self._prices = CatalogFollower(store)
            catalog = self._prices.catalog
        self.catalog = catalog
        self.params = EngineParams.from_settings(settings)
        calibration = load_calibration_data()
        if calibration is not None:  # live: the fold fitted on every replayed scenario
            self.params = self.params.model_copy(
                update={"calibration": table_from_dict(calibration).for_scenario(None)}
            )
        self.actuator = actuator
        self._window: SampleWindow | None = None
        self._history: WinnerHistory | None = None
        self._advantage: AdvantageState | None = None
        self._last_tick: datetime | None = None
        self._placement_keys = [p.key for p in self.catalog.placements()]
        self._gpu_models = gpu_models_by_placement(self.catalog.offers())
        self._undeployable = PROVIDERS.undeployable()
        self.review = ReviewPolicy(window=settings.window_size, live=True)
        self.healer = Healer(settings, store)
        self.watch = AnomalyWatch(store) if anomaly_detection else None
        self.lifecycle = Lifecycle(store)
        self.verifier = Verifier(settings, store, self.lifecycle)
        self.credits = LiveLedger(settings, store, self.catalog)
        """The credit ledger, burnt by where services run; the engine's credit factor reads it."""
        self.queue = ActionQueue(store)
        self.owner = leadership.holder if leadership is not None else engine_owner()
        self.workers = (
            ActionWorkers(settings, store, actuator, owner=self.owner, may_work=self._leads)
            if actuator is not None
            else None
        )
        self._released = False
        self._to_queue: list[Decision] = []
        self._left_by: dict[str, Placement | None] = {}
        """Applied decision id -> the placement its SLO repair left (None: not a repair); decisions are
        immutable, so each is read once (``_slo_left``)."""

    # --- one cycle ---------------------------------------------------------------------------
    def cycle(self) -> CycleReport:
        report = CycleReport()
        self._follow_catalog()
        services = self.store.list_services()
        report.services = len(services)
        if not services:
            report.note = "no services in the store yet (start the simulator: `swen simulate`)"
            return self._finish(report, None, services)
        records = self._ensure_placements(services)
        placements = {name: record.placement for name, record in records.items()}
        self._resume(report)
        batch = self._new_samples()
        ticks = batch.by_tick()
        report.ticks = len(ticks)
        if not ticks:
            report.note = "no new telemetry since the last cycle"
            self._verify(services, placements, report)
            self._heal(HealingPlan(), None, report)
            return self._finish(report, None, services)
        self.credits.catch_up(ticks[-1][0], services, placements)
        if self.watch is not None:
            self.watch.observe(batch, now=ticks[-1][0])
        plan = self.healer.plan([s.name for s in services], placements, ticks[-1][0])
        open_moves = self._open_moves()
        result = self._evaluate_ticks(
            self._window_for(services), services, placements, _last_moved_at(records), ticks, plan,
            pending=self.review.pending(open_moves), slo_left=self._slo_left(records, ticks[-1][0]),
        )  # fmt: skip
        report.sim_time = self._last_tick
        self._withdraw_stale(result, open_moves, report)
        self._record(result.recommendations, open_moves, report, plan)
        self._act_on_proposed_emergencies(open_moves, report, plan)
        self._enqueue(report, plan)
        self._verify(services, placements, report)
        self._heal(plan, result, report)
        return self._finish(report, result, services)

    def _evaluate_ticks(
        self,
        window: SampleWindow,
        services: Sequence[Service],
        placements: dict[str, Placement],
        last_moved: dict[str, datetime],
        ticks: Sequence[tuple[datetime, SampleColumns]],
        plan: HealingPlan | None = None,
        pending: dict[str, Placement] | None = None,
        slo_left: dict[str, tuple[Placement, datetime]] | None = None,
    ) -> EngineResult:
        plan = plan or HealingPlan()
        result: EngineResult | None = None
        for tick_time, samples in ticks:
            window.update_columns(samples)
            self.credits.overlay(window.latest["credits_usd"], window.placements, tick_time)
            result = evaluate(
                EngineInputs(
                    services=services,
                    window=window,
                    now=tick_time,
                    egress_usd_per_gb=self.catalog.egress_usd_per_gb,
                    params=self.params,
                    current=placements,
                    last_moved_at=last_moved,
                    gpu_models=self._gpu_models,
                    history=self._history,
                    advantage=self._advantage,
                    quarantined=plan.quarantined,
                    emergency=plan.emergency,
                    undeployable=self._undeployable,
                    pending=pending or {},
                    slo_left=slo_left or {},
                    catalog_version=None if self._prices is None else self._prices.version_id,
                )
            )
            self._history = result.history
            self._advantage = result.advantage
            self._last_tick = tick_time
        assert result is not None
        return result

    def dry_run(self) -> EngineResult | None:
        """Evaluate the last window of telemetry without storing or acting (``swen explain``)."""
        services = self.store.list_services()
        ticks = self._new_samples().by_tick()
        if not services or not ticks:
            return None
        records = self.store.placement_records()
        placements = {name: record.placement for name, record in records.items()}
        for service in services:
            placements.setdefault(service.name, service.fleet_placement)
        return self._evaluate_ticks(
            self._window_for(services),
            services,
            placements,
            _last_moved_at(records),
            ticks,
            slo_left=self._slo_left(records, ticks[-1][0]),
        )

    def run(self, *, once: bool = False, stop_event: threading.Event | None = None) -> CycleReport:
        """Cycle every ``engine_interval_s`` wall seconds (faster while the window warms up)."""
        stop = stop_event or threading.Event()
        try:
            return self._run(stop, once=once)
        finally:
            if self.workers is not None:
                self.workers.stop(timeout=self.settings.engine_interval_s)

    def _run(self, stop: threading.Event, *, once: bool) -> CycleReport:
        while True:
            if not self._lead(stop, once=once):
                return CycleReport(
                    note="another engine leads: this one stood by and did nothing", stood_by=True
                )
            if not once and self.workers is not None:
                self.workers.start()  # the queue's workers (no-op when running)
            started = time.monotonic()
            try:
                report = self.cycle()
            except FencedError as exc:
                _log.warning("deposed: %s", exc)
                report = CycleReport(errors=[str(exc)], note="deposed: standing by")
            except SwenError as exc:
                _log.error("engine cycle failed: %s", exc)
                report = CycleReport(errors=[str(exc)])
            if once or stop.is_set():
                return report
            while not stop.wait(
                min(APPROVAL_POLL_S, max(0.0, self._interval_s() - (time.monotonic() - started)))
            ):
                if time.monotonic() - started >= self._interval_s():
                    break
                self._apply_approved()
            if stop.is_set():
                return report

    def _lead(self, stop: threading.Event, *, once: bool = False) -> bool:
        """Return at once when this engine leads (or runs alone); else stand by until elected (True)
        or stopped (False; with ``once``, after one lease and a bit). A newly elected engine starts
        from a fresh window: what it saw before is stale."""
        if self.leadership is None or self.leadership.is_leader():
            return True
        _log.warning("standing by: another engine holds the %s lease", self.leadership.name)
        timeout = self.leadership.lease_s + 1.0 if once else None
        if not self.leadership.wait_until_leader(stop, timeout=timeout):
            return False
        self._window, self._history, self._last_tick = None, None, None
        self.credits.replay()  # the previous leader's burns
        self._released = False  # claims of the previous leader become claimable again
        _log.warning("leading (fencing token %s): carrying on the moves in the store", self.leadership.token)
        return True

    def _leads(self) -> bool:
        return self.leadership is None or self.leadership.is_leader()

    def _interval_s(self) -> float:
        warming = self._window is None or self._window.updates < self.settings.window_size
        if warming:  # fill the window at the telemetry pace, then settle to the engine interval
            return min(
                self.settings.engine_interval_s, self.settings.sim_interval_s / self.settings.sim_speed
            )
        return self.settings.engine_interval_s

    # --- inputs ------------------------------------------------------------------------------
    def _follow_catalog(self) -> None:
        """Take up the catalog version a refresh made active (``swen catalog refresh``)."""
        catalog = None if self._prices is None else self._prices.poll()
        if catalog is None:
            return
        self.catalog = catalog
        self.credits.reprice(catalog)  # the ledger burns at the prices now in force
        keys = [p.key for p in catalog.placements()]
        if keys != self._placement_keys:  # regions came or went: the window's columns change
            self._window = None
        self._placement_keys = keys
        self._gpu_models = gpu_models_by_placement(catalog.offers())

    def _ensure_placements(self, services: Sequence[Service]) -> dict[str, PlacementRecord]:
        records = self.store.placement_records()
        now = datetime.now(UTC)
        new = {s.name: s.fleet_placement for s in services if s.name not in records}
        if new:  # a whole fleet at first sight: batched transactions, not one each
            self.lifecycle.first_seen_all(new, at=now)
            for name, where in new.items():
                records[name] = PlacementRecord(where, decision_id=None, applied_at=now)
        return records

    def _window_for(self, services: Sequence[Service]) -> SampleWindow:
        names = [s.name for s in services]
        if self._window is None or list(self._window.services) != names:
            keys = list(self._placement_keys)
            for service in services:  # a current placement outside the catalog still gets a column
                if service.fleet_placement.key not in keys:
                    keys.append(service.fleet_placement.key)
            self._window = SampleWindow(names, [Placement.parse(k) for k in keys], self.settings.window_size)
            self._history = None
            self._advantage = None
            self._last_tick = None
        return self._window

    def _new_samples(self) -> SampleColumns:
        """The samples of the telemetry ticks after the last one seen, in time order (at most one
        window's worth), as columns: a 10,000-service fleet's six ticks are 660,000 samples, and a
        model object per sample cost most of the cycle (``SampleColumns.by_tick`` splits the ticks)."""
        newest = self.store.newest_sample_time()  # one max() (reading every latest sample: 2 s at 1,000)
        if newest is None or (self._last_tick is not None and newest <= self._last_tick):
            return SampleColumns.empty()
        span = timedelta(seconds=self.settings.sim_interval_s * (self.settings.window_size + 1))
        start = newest - span
        if self._last_tick is not None:
            start = max(start, self._last_tick + timedelta(microseconds=1))
        return self.store.sample_columns_between(start=start, end=newest + timedelta(microseconds=1))

    # --- acting on decisions -----------------------------------------------------------------
    def _resume(self, report: CycleReport) -> None:
        """Queue the moves still owed work (crash or restart recovery, recorded approvals); a leader
        new to the queue first makes the claims of engines gone or deposed claimable again."""
        if self.actuator is None or not self._leads():
            return
        if not self._released:
            released = self.queue.release_others(self.owner)
            if released:
                _log.warning("%d action(s) claimed by another engine are claimable again", released)
            self._released = True
        report.queued.extend(self.queue.enqueue(owed_actions(self.store, acting=self._may_act())))
        self._work(report)

    def _work(self, report: CycleReport | None = None) -> None:
        """Hand the queue to the workers: wake them when they run; else (a cycle called on its own)
        work it in this thread, where the cycle used to act."""
        if self.workers is None:
            return
        if self.workers.running:
            self.workers.wake()
            return
        for result in self.workers.drain():
            if report is not None:
                _report_result(report, result)

    def _apply_approved(self) -> None:
        """Between cycles: queue what a person approved through the API or CLI meanwhile."""
        if not self._leads():
            return
        if self.actuator is None or not self.store.list_decisions(status=DecisionStatus.APPROVED, limit=1):
            return
        try:
            self.queue.enqueue(owed_actions(self.store, acting=False, approved_only=True))
            self._work()
        except FencedError as exc:
            _log.warning("deposed while applying approved moves: %s", exc)
        except SwenError as exc:
            _log.error("applying approved moves failed: %s", exc)

    def _record(
        self,
        recommendations: Sequence[Decision],
        open_moves: dict[str, OpenMove],
        report: CycleReport,
        plan: HealingPlan,
    ) -> None:
        """Record the recommendations the review policy and the loop guards admit (``proposed``; a
        thousand at once are batched, an audit event each) and collect them for the queue."""
        admitted = [d for d in recommendations if self._admit(d, open_moves.get(d.service), plan)]
        self.lifecycle.proposed_all(admitted)
        for decision in admitted:
            report.recommendations.append(decision.id)
            self._act(decision, report, plan)

    def _admit(self, decision: Decision, open_move: OpenMove | None, plan: HealingPlan) -> bool:
        """Whether a recommendation is recorded (``proposed``) and queued this cycle."""
        if decision.action is not DecisionAction.MIGRATE or decision.service in plan.held:
            return False  # a service whose incident was escalated waits for a person
        if self.review.on_recommendation(open_move, decision) is ReviewAction.KEEP:
            return False  # the same move is already on its way (the driver resumes a proposed one)
        if not (self._may_act() and decision.emergency):
            return True
        # a loop guard may refuse (and escalate), or a remediation may already be running
        return self.healer.admit(decision, plan, self._last_tick or decision.created_at).allowed

    def _act_on_proposed_emergencies(
        self, open_moves: dict[str, OpenMove], report: CycleReport, plan: HealingPlan
    ) -> None:
        """An emergency recorded while automation was paused is acted on once acting again, after
        the loop guards (the driver resumes every other proposed move)."""
        if not self._may_act():
            return
        for move in open_moves.values():
            if not move.emergency or move.decision_id in report.recommendations:
                continue
            stored = self.store.get_decision(move.decision_id)
            if stored.status is not DecisionStatus.PROPOSED or stored.decision.service in plan.held:
                continue
            now = self._last_tick or stored.decision.created_at
            if self.healer.admit(stored.decision, plan, now).allowed:
                self._act(stored.decision, report, plan)

    def _act(self, decision: Decision, report: CycleReport, plan: HealingPlan) -> None:
        """Collect the move for the queue (``_enqueue`` queues the cycle's moves in one transaction)."""
        if self._may_act():
            self._to_queue.append(decision)

    def _enqueue(self, report: CycleReport, plan: HealingPlan) -> None:
        """Queue the cycle's moves for the workers at once (emergencies go first and are never held
        by the budget); an admitted emergency's incident is remediating from here on."""
        decisions, self._to_queue = self._to_queue, []
        if not decisions:
            return
        queued = set(self.queue.enqueue([action_for(d) for d in decisions]))
        report.queued.extend(sorted(queued))
        for decision in decisions:
            if decision.emergency and action_for(decision).key in queued:
                self.healer.started(decision, plan, self._last_tick or decision.created_at)
        self._work(report)

    def _open_moves(self) -> dict[str, OpenMove]:
        """The newest open move of each service (``moves.review_policy``'s view of the store)."""
        out: dict[str, OpenMove] = {}
        for stored in self.lifecycle.open_moves():  # newest first
            d = stored.decision
            out.setdefault(
                d.service,
                OpenMove(
                    d.id,
                    d.target,
                    stored.status in WAITING_STATUSES,
                    d.emergency,
                    d.confidence,
                    chosen_by_person=d.chosen_by is not None,
                ),
            )
        return out

    def _withdraw_stale(
        self, result: EngineResult, open_moves: dict[str, OpenMove], report: CycleReport
    ) -> None:
        """Close a waiting recommendation the engine has not recommended for a whole window.

        A person approving hours later would otherwise apply a move whose reason has gone (a price
        blip that reverted): the backtest showed such stale approvals costing more than they save.
        """
        for service in self.review.withdrawals(open_moves, result, act=self._may_act()):
            assert self.actuator is not None
            move = open_moves.pop(service)
            verdict = result.decision(service)
            reason = f"no longer recommended for {self.review.window} cycles: {verdict.explanation}"
            try:
                self.actuator.withdraw(move.decision_id, reason[:1900])
            except SwenError as exc:
                report.errors.append(f"{service}: withdrawing {move.decision_id} failed: {exc}")
                continue
            report.withdrawn.append(move.decision_id)

    def _may_act(self) -> bool:
        return self.actuator is not None and self._leads() and not automation.is_paused(self.store)

    # --- verification ------------------------------------------------------------------------
    def _verify(
        self, services: Sequence[Service], placements: dict[str, Placement], report: CycleReport
    ) -> None:
        done = self.verifier.run(services, placements, self._last_tick)
        report.verified.extend(done.verified)
        report.failed.extend(done.failed)

    # --- self-healing ------------------------------------------------------------------------
    def _heal(self, plan: HealingPlan, result: EngineResult | None, report: CycleReport) -> None:
        if self._last_tick is None:
            return
        try:
            done = self.healer.follow_up(plan, result, self._last_tick)
        except SwenError as exc:
            report.errors.append(f"self-healing: {exc}")
            _log.error("self-healing follow-up failed: %s", exc)
            return
        report.incidents_remediating = done.remediating
        report.incidents_resolved = done.resolved
        report.incidents_retried = done.retried
        report.incidents_escalated = done.escalated

    # --- outputs -----------------------------------------------------------------------------
    def _finish(
        self, report: CycleReport, result: EngineResult | None, services: Sequence[Service]
    ) -> CycleReport:
        now = utcnow()
        self.store.save_state(EngineHeartbeat(ts=now, sim_time=report.sim_time))
        if result is not None and self._leads():
            atomic_write_json(self.settings.decisions_path, self._export(result, services, report))
        if self.workers is not None and self._leads():
            report.queue = self._queue_note()
        leader = {}
        if self.leadership is not None:
            leader = {"leader": {"holder": self.leadership.holder, "token": self.leadership.token}}
        self.store.append_event(
            EventType.ENGINE_CYCLE,
            {
                **leader,
                "sim_time": report.sim_time.isoformat() if report.sim_time else None,
                "ticks": report.ticks,
                "services": report.services,
                "recommendations": report.recommendations,
                "verified": report.verified,
                "failed": report.failed,
                "withdrawn": report.withdrawn,
                "incidents": {
                    "remediating": report.incidents_remediating,
                    "resolved": report.incidents_resolved,
                    "retried": report.incidents_retried,
                    "escalated": report.incidents_escalated,
                },
                "errors": report.errors,
                **({"queue": report.queue} if report.queue is not None else {}),
            },
        )
        return report

    def _queue_note(self) -> dict[str, Any]:
        """What the feed and ``swen engine --once`` say about the queue (a held move says why)."""
        view = queue_view(self.settings, self.store, state="pending", limit=1)
        waiting = view.actions[0].waiting if view.actions else None
        if waiting is not None:
            _log.info("%d move(s) queued; the next is %s", view.counts["pending"], waiting)
        return {"pending": view.counts["pending"], "running": view.counts["running"], "waiting": waiting}

    def _export(
        self, result: EngineResult, services: Sequence[Service], report: CycleReport
    ) -> dict[str, Any]:
        """The seed's ``ai_decisions.json`` contract: the cycle summary (``engine.summary``: every
        recommendation in full, one compact row per service not on its best placement), the full
        evaluation with ranking of every service for small fleets, and the recent stored decisions
        with their lifecycle status."""
        document = decisions_document(result)
        document["sim_time"] = report.sim_time.isoformat() if report.sim_time else None
        document["written_at"] = datetime.now(UTC).isoformat()
        if len(services) <= FULL_EXPORT_MAX_SERVICES:
            document["evaluations"] = [d.model_dump(mode="json") for d in result.decisions]
        document["decisions"] = [
            {
                "status": s.status.value,
                "updated_at": s.updated_at.isoformat(),
                **s.decision.model_dump(mode="json"),
            }
            for s in self.store.list_decisions(limit=50)
        ]
        return document

    def _slo_left(
        self, records: dict[str, PlacementRecord], now: datetime
    ) -> dict[str, tuple[Placement, datetime]]:
        """Services whose applied placement came from an SLO repair within the hold-down -> (the
        placement the repair left, when it was applied): the engine does not propose that placement
        again meanwhile (``EngineInputs.slo_left``). Decisions are immutable: each is read once, and
        the ones not yet read are read together (``Store.get_decisions``; after a restart that is
        every decision applied within the hold-down)."""
        holddown = self.params.slo_holddown_s
        recent = {
            name: (record.decision_id, record.applied_at)
            for name, record in records.items()
            if record.decision_id is not None and (now - record.applied_at).total_seconds() < holddown
        }
        unread = {decision_id for decision_id, _ in recent.values()} - self._left_by.keys()
        if unread:
            stored = self.store.get_decisions(unread)
            for decision_id in unread:  # a decision the store no longer holds is not a repair
                found = stored.get(decision_id)
                repair = found is not None and found.decision.slo_repair
                self._left_by[decision_id] = found.decision.current if repair and found else None
        out: dict[str, tuple[Placement, datetime]] = {}
        for name, (decision_id, applied_at) in recent.items():
            left = self._left_by[decision_id]
            if left is not None:
                out[name] = (left, applied_at)
        kept = {decision_id for decision_id, _ in recent.values()}
        self._left_by = {k: v for k, v in self._left_by.items() if k in kept}
        return out


def _report_result(report: CycleReport, result: ActionResult) -> None:
    if result.error is not None:
        report.errors.append(result.error)
    elif result.mr_id is not None and result.action.kind == "propose":
        report.proposed_mrs.append(result.mr_id)


def _last_moved_at(records: dict[str, PlacementRecord]) -> dict[str, datetime]:
    """When each service last moved (for the cooldown), on the platform clock the lifecycle records
    placements with (``moves.lifecycle.platform_now``), so it compares with sample time as it is."""
    return {name: r.applied_at for name, r in records.items() if r.decision_id is not None}


def gitops_actuator(settings: Settings, store: Store) -> Actuator | None:
    """The GitOps actuator (``moves.driver.MoveDriver``), or None when the infra repository does not
    exist yet (run ``swen init``): the loop then only advises."""
    if not (settings.infra_repo_path / ".git").exists():
        return None
    from swen.moves.driver import MoveDriver  # git, terraform and regopy only when acting

    return MoveDriver(settings, store)
