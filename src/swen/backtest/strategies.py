"""The three strategies replayed on one trace: static, the platform, and the hindsight oracle.

* **static**: never move (the initial placement at every step).
* **oracle**: ``oracle.oracle_path`` (exact DP with hindsight, same migration costs).
* **platform**: the real engine, policy gate and lifecycle, step by step (:class:`PlatformReplay`):

  1. moves whose lifecycle ends at this step are applied (the placement changes before the step is
     paid; Terraform is replaced by setting the placement directly). A GPU service's move fails when
     the target has no GPU capacity at that moment (GPU availability below the engine's floor), as a
     real apply would;
  2. the platform's own credit ledger (``credits.CreditRun``) burns this step's running cost of the
     applied placements; the step's samples go into the engine's ``SampleWindow``
     (``trace_window.TraceWindow``), with those balances as ``credits_usd``, and the real ``evaluate``
     runs with the applied placements, the providers the platform cannot deploy to
     (``PROVIDERS.undeployable()``, as the live loop), the cooldown (``last_moved_at``), the open moves
     (``pending``) and the winner history, exactly as ``loop.EngineLoop`` feeds it (emergency mode:
     ``auto_emergency``);
  3. each recommendation goes through the real ``PolicyGate`` with the plan the sim root would produce
     (one ``terraform_data.placement["<service>"]`` replace carrying the service's stateful flag):
     ``auto_approve`` -> applied after ``pipeline_delay_steps``; ``manual_review`` -> waits
     ``human_delay_h`` hours for a person; ``deny`` -> dropped.

What happens to a manual review while it waits is ``Lifecycle.manual``:

* ``live`` (default), what ``loop.EngineLoop`` does: the waiting move is not passed to the engine as
  pending (the live loop never does), so the engine keeps judging it every cycle. The same move
  recommended again is not proposed again, unless its evidence grew (``engine.review_rules``:
  ``stronger_evidence``), in which case it is proposed afresh and gated again (refresh: the older MR is
  superseded; if the gate now auto-approves, it is applied after the pipeline delay). A move the engine
  has not recommended for a stability window is withdrawn (``should_withdraw``). Another target
  supersedes the waiting move when it is proposed (the committer closes the older MR before the
  pipeline's gate runs). The person approves whatever is still waiting when the delay is over.
* ``approve`` / ``reject`` / ``recheck`` (the lifecycle before those rules): the waiting move is passed
  to the engine as pending (no second proposal for the service; an emergency heading elsewhere
  supersedes it), and after the delay a person approves it as it is, rejects it, or approves it only if
  the engine's latest cycle still picks that target.

Auto-approved moves in the pipeline are always passed as pending.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import numpy as np
import numpy.typing as npt

from swen.backtest.hindsight import service_move
from swen.backtest.lifecycle import (
    MANUAL_OUTCOMES,
    Lifecycle,
    LifecycleEvent,
    ManualOutcome,
    OpenMove,
    PolicyTally,
)
from swen.backtest.trace import Floors, Grid, Progress, Trace
from swen.backtest.trace_window import TraceWindow
from swen.domain.decision import Decision
from swen.domain.models import Placement, Service
from swen.domain.providers import PROVIDERS
from swen.engine.confidence import WinnerHistory
from swen.engine.decide import EngineInputs, EngineResult, evaluate
from swen.engine.fleet import FleetArrays, gpu_models_by_placement
from swen.engine.forecast import AdvantageState
from swen.engine.params import EngineParams
from swen.moves.review_policy import OpenMove as PolicyMove
from swen.moves.review_policy import ReviewAction, ReviewPolicy
from swen.pipeline.plan_summary import PlanSummary, summarise_plan
from swen.pipeline.policy import PolicyGate, PolicyInput
from swen.telemetry.catalog import Catalog

Path16 = npt.NDArray[np.int16]
__all__ = [
    "MANUAL_OUTCOMES",
    "Lifecycle",
    "LifecycleEvent",
    "ManualOutcome",
    "PlatformReplay",
    "PolicyTally",
    "sim_plan",
    "static_path",
]


def static_path(trace: Trace, grid: Grid) -> Path16:
    return np.broadcast_to(grid.initial.astype(np.int16), (trace.steps, len(trace.services))).copy()


def sim_plan(service: Service) -> PlanSummary:
    """The plan the sim root produces for a move: one ``terraform_data.placement`` replace."""
    values = {"input": {"service": service.name, "stateful": service.stateful}}
    return summarise_plan(
        {
            "format_version": "1.2",
            "resource_changes": [
                {
                    "address": f'terraform_data.placement["{service.name}"]',
                    "mode": "managed",
                    "type": "terraform_data",
                    "name": "placement",
                    "index": service.name,
                    "change": {"actions": ["delete", "create"], "before": values, "after": values},
                }
            ],
        }
    )


class PlatformReplay:
    """Replays the trace through the engine, the policy gate and the lifecycle."""

    def __init__(
        self,
        trace: Trace,
        grid: Grid,
        catalog: Catalog,
        *,
        params: EngineParams,
        lifecycle: Lifecycle,
        floors: Floors,
        gate: PolicyGate,
    ) -> None:
        self.trace, self.grid, self.params, self.lifecycle, self.floors, self.gate = (
            trace,
            grid,
            params,
            lifecycle,
            floors,
            gate,
        )
        self.services = list(trace.services)
        self.placements = catalog.placements()
        idx = trace.index
        column_of = {p.key: i for i, p in enumerate(self.placements)}
        key_col = [column_of[p.key] for p in idx.placements]
        self._window_col = np.asarray(key_col, dtype=np.intp)[idx.pair_placement]
        self._service_idx = idx.pair_service.astype(np.intp)
        self.window = TraceWindow(
            [s.name for s in self.services],
            self.placements,
            params.stability_window,
            trace=trace,
            service_idx=self._service_idx,
            window_col=self._window_col,
        )
        """The engine's window, fed one trace row per step (``trace_window``)."""
        self._grid_col = self._grid_columns()
        self._gpu_models = gpu_models_by_placement(catalog.offers())
        self._egress = _cached(catalog.egress_usd_per_gb)
        self._plans: dict[str, PlanSummary] = {}
        self._human_steps = max(1, round(lifecycle.human_delay_h * 3600.0 / trace.step_s))
        self.current: dict[str, Placement] = {s.name: s.fleet_placement for s in self.services}
        self.column = grid.initial.copy()
        self.last_moved: dict[str, datetime] = {}
        self._cooling_since: dict[str, datetime] = {}
        """``last_moved`` of the services that may still be cooling down, oldest first (``_cooling``)."""
        self.slo_left: dict[str, tuple[Placement, datetime]] = {}
        """Services whose last applied move was an SLO repair -> (the placement left, when)."""
        self.open: dict[int, OpenMove] = {}
        self.due: dict[int, list[int]] = {}
        self.review = ReviewPolicy(window=params.stability_window, live=lifecycle.live)
        """The live loop's review policy (``moves.review_policy``); ``live`` is the one difference."""
        self.journal: list[LifecycleEvent] = []
        self.history: WinnerHistory | None = None
        self.advantage: AdvantageState | None = None
        self.observer: Callable[[int, EngineResult, npt.NDArray[np.int64]], None] | None = None
        """Called after each step's engine cycle with (step, result, grid column per service): the
        calibration (``backtest.calibration``) samples candidate moves through it."""
        self.last_result: EngineResult | None = None
        self.gate_observer: Callable[[int, Decision, str], None] | None = None
        """Called for every gated decision with (step, decision, the gate's outcome), before the move
        is opened: the calibration fit (``backtest.calibration_fit``) samples the gate's decisions
        through it, with ``last_result`` (this step's cycle) for the confidence's parts."""
        n = len(self.services)
        self.credits = trace.credit_run()
        """The platform's own credit ledger: burnt by its own placements (module docstring)."""
        self._undeployable = PROVIDERS.undeployable()
        self.fleet = FleetArrays.build(
            self.services,
            self.placements,
            current=self.current,
            gpu_models=self._gpu_models,
            undeployable=self._undeployable,
        )
        """The engine's fleet arrays, built once (``EngineInputs.fleet``); ``moved`` on each apply."""
        self._replicas_h = grid.replicas * trace.step_h
        self.tally = PolicyTally(
            auto_per_service=np.zeros(n, dtype=np.int64), manual_per_service=np.zeros(n, dtype=np.int64)
        )

    def _grid_columns(self) -> npt.NDArray[np.int64]:
        """``S x window columns`` -> the service's grid column (-1 when not a candidate)."""
        grid = self.grid
        out = np.full((len(self.services), len(self.placements)), -1, dtype=np.int64)
        valid = grid.cand_pair >= 0
        rows, cols = np.nonzero(valid)
        out[rows, self._window_col[grid.cand_pair[rows, cols]]] = cols
        return out

    def grid_column(self, s: int, window_col: int) -> int:
        """The grid column of window candidate ``window_col`` for service ``s`` (-1: not a candidate)."""
        return int(self._grid_col[s, window_col])

    def run(self, *, progress: Progress | None = None) -> Path16:
        trace = self.trace
        path = np.empty((trace.steps, len(self.services)), dtype=np.int16)
        chunk = max(1, trace.steps // 100)
        for t in range(trace.steps):
            now = trace.time_at(t)
            self._apply_due(t, now)
            cost = trace.hourly_cost_usd[t]
            self._burn_credits(t, cost)
            self._observe(t, now, cost)
            result = evaluate(
                EngineInputs(
                    services=self.services,
                    window=self.window,
                    now=now,
                    egress_usd_per_gb=self._egress,
                    params=self.params,
                    last_moved_at=self._cooling(now),
                    history=self.history,
                    advantage=self.advantage,
                    pending=self._pending(),
                    slo_left=self.slo_left,
                    fleet=self.fleet,
                )
            )
            self.history = result.history
            self.advantage = result.advantage
            if self.observer is not None:
                self.observer(t, result, self.column)
            self.last_result = result
            self._count_held(result)
            self._withdraw_stale(t, result)
            for decision in result.recommendations:
                if self._is_new(t, decision):
                    self._gate(t, decision)
            path[t] = self.column
            if progress is not None and (t + 1) % chunk == 0:
                progress(chunk)
        if progress is not None and trace.steps % chunk:
            progress(trace.steps % chunk)
        return path

    # --- one step ----------------------------------------------------------------------------
    def _burn_credits(self, t: int, cost: npt.NDArray[np.float32]) -> None:
        """Burn this step's running cost of the applied placements from the platform's balances
        (``cost``: the trace's prices at step t, every pair)."""
        pairs = self.grid.cand_pair[np.arange(len(self.services)), self.column]
        running = cost[pairs] * self._replicas_h
        self.credits.step(t, running, self.trace.index.pair_provider[pairs])

    def _observe(self, t: int, now: datetime, cost: npt.NDArray[np.float32]) -> None:
        """Step t's samples into the window (error rates are not in the trace: the engine's cycle
        never reads them)."""
        trace = self.trace
        self.window.observe(
            t,
            now.timestamp(),
            hourly_cost_usd=cost,
            latency_ms=trace.latency_ms[t],
            credits_usd=self.credits.balance[trace.index.pair_provider],
            gpu_availability=trace.gpu_row(t),
            availability=trace.availability[t],
        )

    def _cooling(self, now: datetime) -> dict[str, datetime]:
        """``last_moved`` without the services whose cooldown is over at ``now``: for them the engine
        computes ``cooldown_left_s <= 0`` (free to move), which is what it reads (``> 0`` holds a
        move), so dropping them changes no decision, and the engine's per-cycle loop over
        ``last_moved_at`` covers only the few services that moved within a cooldown."""
        moved, cooldown_s = self._cooling_since, self.params.cooldown_s
        while moved:
            name = next(iter(moved))
            if cooldown_s - (now - moved[name]).total_seconds() > 0:
                break  # the oldest move is still cooling down, and so are the later ones
            del moved[name]
        return moved

    def _open_moves(self) -> dict[str, PolicyMove]:
        """The open moves as the review policy sees them (a manual review waits for a person)."""
        return {
            self.services[s].name: PolicyMove(m.decision_id, m.target, not m.auto, m.emergency, m.confidence)
            for s, m in self.open.items()
        }

    def _pending(self) -> dict[str, Placement]:
        """Open moves the engine is told about (``ReviewPolicy.pending``)."""
        return self.review.pending(self._open_moves())

    def _count_held(self, result: EngineResult) -> None:
        """Tally the moves the engine held this step for the value of waiting (``engine.route``)."""
        held = np.flatnonzero(result.cycle.held)
        if held.size:
            self.tally.held_steps += int(held.size)
            names = result.cycle.fleet.names
            self.tally.held_services.update(names[int(i)] for i in held)

    def _withdraw_stale(self, t: int, result: EngineResult) -> None:
        """``live``: withdraw a waiting review the engine has not recommended for a whole window."""
        for name in self.review.withdrawals(self._open_moves(), result):
            s = self.window.service_index[name]
            move = self.open.pop(s)
            self.tally.withdrawn += 1
            self._note(t, s, "withdrawn", move.target)

    def _is_new(self, t: int, decision: Decision) -> bool:
        """Whether a recommendation is proposed (``ReviewPolicy.on_recommendation``): not when the
        same move is already open, unless it is refreshed."""
        s = self.window.service_index[decision.service]
        open_move = self._open_moves().get(decision.service)
        action = self.review.on_recommendation(open_move, decision)
        if action is ReviewAction.REFRESH:
            self.tally.refreshed += 1
            self._note(t, s, "refresh", self.open[s].target)
        return action is not ReviewAction.KEEP

    def _gate(self, t: int, decision: Decision) -> None:
        tally = self.tally
        s = self.window.service_index[decision.service]
        tally.recommendations += 1
        tally.emergencies += int(decision.emergency)
        if not np.isfinite(decision.confidence.value):
            tally.engine_errors += 1
            return
        if self.lifecycle.live and s in self.open:  # the committer supersedes before the gate runs
            del self.open[s]
            tally.superseded += 1
        service = self.services[s]
        plan = self._plans.get(service.name)
        if plan is None:
            plan = self._plans[service.name] = sim_plan(service)
        result = self.gate.evaluate(PolicyInput.from_decision(decision, plan))
        self._note(t, s, result.outcome, decision.target, decision)
        if decision.slo_repair:
            tally.slo_repairs += 1
            tally.slo_repairs_auto += int(result.outcome == "auto_approve")
        if self.gate_observer is not None:
            self.gate_observer(t, decision, result.outcome)
        if result.outcome == "deny":
            tally.deny += 1
            self._count_reasons(result.codes)
            return
        window_col = self.window.placement_index.get(decision.target.key)
        column = -1 if window_col is None else int(self._grid_col[s, window_col])
        if column < 0:
            tally.engine_errors += 1  # the engine only targets sampled candidates; never seen here
            return
        if s in self.open:
            tally.superseded += 1
        auto = result.outcome == "auto_approve"
        if auto:
            tally.auto_approve += 1
            tally.auto_per_service[s] += 1
            tally.overrides += int(result.override)
            delay = self.lifecycle.pipeline_delay_steps
        else:
            tally.manual_review += 1
            tally.manual_per_service[s] += 1
            self._count_reasons(result.codes)
            delay = self._human_steps
        due = t + max(1, delay)
        self.open[s] = OpenMove(
            decision.id,
            column,
            decision.target,
            auto,
            due,
            decision.confidence,
            decision.emergency,
            decision.current if decision.slo_repair else None,
        )
        self.due.setdefault(due, []).append(s)

    def _apply_due(self, t: int, now: datetime) -> None:
        for s in self.due.pop(t, []):
            move = self.open.get(s)
            if move is None or move.due != t:  # superseded by a later decision due at another step
                continue
            del self.open[s]
            if not move.auto and not self._person_approves(s, move):
                self.tally.rejected_by_person += 1
                self._note(t, s, "rejected_by_person", move.target)
                continue
            if not self._has_capacity(t, s, move.column):
                self.tally.failed_no_capacity += 1
                self._note(t, s, "failed_no_capacity", move.target)
                continue
            self.column[s] = move.column
            self.current[self.services[s].name] = move.target
            self.fleet = self.fleet.moved(s, move.target)
            name = self.services[s].name
            self.last_moved[name] = now
            self._cooling_since.pop(name, None)  # re-inserted last: kept in order of the moves
            self._cooling_since[name] = now
            if move.repair_from is not None:  # held down by the engine (EngineInputs.slo_left)
                self.slo_left[name] = (move.repair_from, now)
            else:
                self.slo_left.pop(name, None)
            self.tally.applied += 1
            self._note(t, s, "applied", move.target)

    def _note(self, t: int, s: int, event: str, target: Placement, decision: Decision | None = None) -> None:
        conf = None if decision is None else decision.confidence
        result = self.last_result
        for_service = (
            decision is not None
            and result is not None
            and service_move(result.cycle, result.cycle.row_of[decision.service])
        )
        self.journal.append(
            LifecycleEvent(
                t,
                self.services[s].name,
                event,
                target.key,
                None if conf is None else conf.value,
                None if conf is None else conf.stability,
                for_service,
            )
        )

    def _person_approves(self, s: int, move: OpenMove) -> bool:
        manual = self.lifecycle.manual
        if manual != "recheck":
            return manual != "reject"  # live: what still waits has survived the refresh/withdraw rules
        if self.last_result is None:
            return True
        cycle = self.last_result.cycle
        target = int(cycle.target[cycle.row_of[self.services[s].name]])
        return target >= 0 and self.placements[target].key == move.target.key

    def _has_capacity(self, t: int, s: int, column: int) -> bool:
        if not self.grid.enterable[s, column]:
            return False
        if not self.grid.is_gpu[s]:
            return True
        pair = int(self.grid.cand_pair[s, column])
        return bool(self.trace.gpu_at(t, pair) >= self.floors.gpu_availability)

    def _count_reasons(self, codes: tuple[str, ...]) -> None:
        for code in codes:
            self.tally.reasons[code] = self.tally.reasons.get(code, 0) + 1


def _cached(lookup: Callable[[Placement, Placement], float]) -> Callable[[Placement, Placement], float]:
    cache: dict[tuple[str, str], float] = {}

    def price(src: Placement, dst: Placement) -> float:
        key = (src.key, dst.key)
        if key not in cache:
            cache[key] = lookup(src, dst)
        return cache[key]

    return price
