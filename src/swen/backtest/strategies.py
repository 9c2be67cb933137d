"""The three strategies replayed on one trace: static, the platform, and the hindsight oracle.

* **static**: never move (the initial placement at every step).
* **oracle**: ``oracle.oracle_path`` (exact DP with hindsight, same migration costs).
* **platform**: the real engine, policy gate and lifecycle, step by step (:class:`PlatformReplay`):

  1. moves whose lifecycle ends at this step are applied (the placement changes before the step is
     paid; Terraform is replaced by setting the placement directly). A GPU service's move fails when
     the target has no GPU capacity at that moment (GPU availability below the engine's floor), as a
     real apply would;
  2. the step's samples go into a ``SampleWindow`` (``update_arrays``) and the real ``evaluate`` runs
     with the applied placements, the cooldown (``last_moved_at``), the open moves (``pending``) and
     the winner history, exactly as ``loop.EngineLoop`` feeds it (emergency mode: ``auto_emergency``);
  3. each recommendation goes through the real ``PolicyGate`` with the plan the sim root would produce
     (one ``terraform_data.placement["<service>"]`` replace carrying the service's stateful flag):
     ``auto_approve`` -> applied after ``pipeline_delay_steps``; ``manual_review`` -> a person approves
     (``manual="approve"``), rejects (``"reject"``) or re-checks it against the engine's latest
     cycle (``"recheck"``) after ``human_delay_h`` hours; ``deny`` -> dropped. While a move
     is open the engine makes no second proposal for the service; an emergency heading elsewhere
     supersedes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import numpy as np
import numpy.typing as npt

from swen.backtest.oracle import oracle_path
from swen.backtest.trace import Floors, Grid, Progress, Trace
from swen.domain.decision import Decision
from swen.domain.models import Placement, Service
from swen.engine.confidence import WinnerHistory
from swen.engine.decide import EngineInputs, EngineResult, evaluate
from swen.engine.fleet import gpu_models_by_placement
from swen.engine.params import EngineParams
from swen.engine.window import SampleWindow
from swen.pipeline.plan_summary import PlanSummary, summarise_plan
from swen.pipeline.policy import PolicyGate, PolicyInput
from swen.telemetry.catalog import Catalog

Path16 = npt.NDArray[np.int16]
ManualOutcome = Literal["approve", "reject", "recheck"]


def static_path(trace: Trace, grid: Grid) -> Path16:
    return np.broadcast_to(grid.initial.astype(np.int16), (trace.steps, len(trace.services))).copy()


def hindsight_path(trace: Trace, grid: Grid, floors: Floors, *, progress: Progress | None = None) -> Path16:
    return oracle_path(trace, grid, floors, progress=progress)


@dataclass(frozen=True)
class Lifecycle:
    """How long a recommendation takes to become a placement."""

    pipeline_delay_steps: int = 1
    """auto_approve: steps from the decision to the applied placement (MR, pipeline, apply)."""
    human_delay_h: float = 4.0
    """manual_review: hours until a person acts on the merge request."""
    manual: ManualOutcome = "approve"
    """What the person does when the delay is over: ``approve`` the merge request as it is (the live
    loop leaves it open until someone acts), ``reject`` it, or ``recheck``: approve only if the
    engine's latest cycle still picks that target for the service."""


@dataclass
class PolicyTally:
    """What the gate and the lifecycle did over the replay (fleet totals and per service)."""

    recommendations: int = 0
    emergencies: int = 0
    auto_approve: int = 0
    manual_review: int = 0
    deny: int = 0
    overrides: int = 0
    applied: int = 0
    rejected_by_person: int = 0
    failed_no_capacity: int = 0
    superseded: int = 0
    engine_errors: int = 0
    """Recommendations the gate could not take (e.g. a non-finite confidence from the engine)."""
    reasons: dict[str, int] = field(default_factory=dict)
    """manual_review/deny reason codes and how often they came up."""
    auto_per_service: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    manual_per_service: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def auto_share(self) -> float | None:
        gated = self.auto_approve + self.manual_review + self.deny
        return self.auto_approve / gated if gated else None


@dataclass
class _OpenMove:
    decision_id: str
    column: int
    target: Placement
    auto: bool
    due: int


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
        self.window = SampleWindow([s.name for s in self.services], self.placements, params.stability_window)
        idx = trace.index
        key_col = [self.window.placement_index[p.key] for p in idx.placements]
        self._window_col = np.asarray(key_col, dtype=np.intp)[idx.pair_placement]
        self._service_idx = idx.pair_service.astype(np.intp)
        self._grid_col = self._grid_columns()
        self._gpu_models = gpu_models_by_placement(catalog.offers())
        self._egress = _cached(catalog.egress_usd_per_gb)
        self._plans: dict[str, PlanSummary] = {}
        self._human_steps = max(1, round(lifecycle.human_delay_h * 3600.0 / trace.step_s))
        self.current: dict[str, Placement] = {s.name: s.current for s in self.services}
        self.column = grid.initial.copy()
        self.last_moved: dict[str, datetime] = {}
        self.open: dict[int, _OpenMove] = {}
        self.due: dict[int, list[int]] = {}
        self.history: WinnerHistory | None = None
        self.last_result: EngineResult | None = None
        n = len(self.services)
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

    def run(self, *, progress: Progress | None = None) -> Path16:
        trace = self.trace
        path = np.empty((trace.steps, len(self.services)), dtype=np.int16)
        chunk = max(1, trace.steps // 100)
        for t in range(trace.steps):
            now = trace.time_at(t)
            self._apply_due(t, now)
            self._observe(t, now)
            result = evaluate(
                EngineInputs(
                    services=self.services,
                    window=self.window,
                    now=now,
                    egress_usd_per_gb=self._egress,
                    params=self.params,
                    current=self.current,
                    last_moved_at=self.last_moved,
                    gpu_models=self._gpu_models,
                    history=self.history,
                    pending={self.services[s].name: move.target for s, move in self.open.items()},
                )
            )
            self.history = result.history
            self.last_result = result
            for decision in result.recommendations:
                self._gate(t, decision)
            path[t] = self.column
            if progress is not None and (t + 1) % chunk == 0:
                progress(chunk)
        if progress is not None and trace.steps % chunk:
            progress(trace.steps % chunk)
        return path

    # --- one step ----------------------------------------------------------------------------
    def _observe(self, t: int, now: datetime) -> None:
        trace = self.trace
        self.window.update_arrays(
            self._service_idx,
            self._window_col,
            ts=np.full(self._service_idx.size, now.timestamp()),
            hourly_cost_usd=trace.hourly_cost_usd[t],
            latency_ms=trace.latency_ms[t],
            credits_usd=trace.credits_usd[t],
            gpu_availability=trace.gpu_availability[t],
            availability=trace.availability[t],
            error_rate=trace.error_rate[t],
        )

    def _gate(self, t: int, decision: Decision) -> None:
        tally = self.tally
        s = self.window.service_index[decision.service]
        tally.recommendations += 1
        tally.emergencies += int(decision.emergency)
        if not np.isfinite(decision.confidence.value):
            tally.engine_errors += 1
            return
        service = self.services[s]
        plan = self._plans.get(service.name)
        if plan is None:
            plan = self._plans[service.name] = sim_plan(service)
        result = self.gate.evaluate(PolicyInput.from_decision(decision, plan))
        if result.outcome == "deny":
            tally.deny += 1
            self._count_reasons(result.codes)
            return
        column = int(self._grid_col[s, self.window.placement_index.get(decision.target.key, 0)])
        if decision.target.key not in self.window.placement_index or column < 0:
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
        self.open[s] = _OpenMove(decision.id, column, decision.target, auto, due)
        self.due.setdefault(due, []).append(s)

    def _apply_due(self, t: int, now: datetime) -> None:
        for s in self.due.pop(t, []):
            move = self.open.get(s)
            if move is None or move.due != t:  # superseded by a later decision due at another step
                continue
            del self.open[s]
            if not move.auto and not self._person_approves(s, move):
                self.tally.rejected_by_person += 1
                continue
            if not self._has_capacity(t, s, move.column):
                self.tally.failed_no_capacity += 1
                continue
            self.column[s] = move.column
            self.current[self.services[s].name] = move.target
            self.last_moved[self.services[s].name] = now
            self.tally.applied += 1

    def _person_approves(self, s: int, move: _OpenMove) -> bool:
        manual = self.lifecycle.manual
        if manual != "recheck":
            return manual == "approve"
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
        return bool(self.trace.gpu_availability[t, pair] >= self.floors.gpu_availability)

    def _count_reasons(self, codes: tuple[str, ...]) -> None:
        for code in codes:
            self.tally.reasons[code] = self.tally.reasons.get(code, 0) + 1


def _cached(lookup: Callable[[Placement, Placement], float]) -> Callable[[Placement, Placement], float]:
    cache: dict[tuple[str, str], float] = {}

    def price(src: Placement, dst: Placement) -> float:
        key = (src.key, src.key if src == dst else dst.key)
        if key not in cache:
            cache[key] = lookup(src, dst)
        return cache[key]

    return price
