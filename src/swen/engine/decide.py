"""One engine cycle: inputs in, frozen Decisions out (pure: no clock, no store, no files).

Per service the engine scores every candidate (scoring.py) that meets the hard constraints
(constraints.py), takes the best one, computes confidence (confidence.py) and net savings
(savings.py) against the current placement, and decides:

- **MIGRATE** iff best != current, confidence > ``min_confidence`` (strict), net monthly savings >
  ``min_savings_usd`` (strict), the service is not in its cooldown (``now - last_moved_at <
  cooldown_s``), the current placement has fresh telemetry, and the evidence is strong enough for
  the route the move will take (``route.judge_routes``): a move the gate could auto-approve
  (stateless, cost delta < 5 %) waits until its confidence clears ``auto_confidence`` (and its evidence
  ``auto_min_evidence``: held for stronger evidence) instead of going to a person first and being
  proposed again later; after ``manual_patience_s`` it goes to a person
  only if holding it would lose more than a review costs (``review_cost_usd``; else it is *held*).
- **SLO repair** (the current placement's breach of the latency SLO is sustained:
  :func:`sustained_breach`): MIGRATE to the best-scored candidate other than the current placement
  (all of them meet the SLO) even when it costs more: no savings bar, but a cost delta of at most
  ``max_repair_cost_pct``; confidence ``max(raw, freshness x GPU capacity)`` above ``min_confidence``;
  never held for the gate's bar or the value of waiting (the gate still decides who approves it);
  cooldown and open decisions still apply. After it is applied, the placement left is held down for
  ``slo_holddown_s`` (``EngineInputs.slo_left``) so that a price move does not take the service back.
- **Emergency** (the service is in ``EngineInputs.emergency``, or ``auto_emergency`` is on and its
  current placement is below the availability floor or quarantined): MIGRATE to the best *other*
  healthy candidate, ignoring the savings and confidence thresholds and the cooldown
  (``emergency=True``; confidence is still computed with the current placement counted as 0).
- Otherwise **STAY**, with ``reasons`` naming each unmet condition and an explanation saying why not.

Only MIGRATE decisions are built eagerly (:attr:`EngineResult.recommendations`); any other service's
decision is built on demand (:meth:`EngineResult.decision`, :attr:`EngineResult.decisions`) from the
cycle's arrays, so a 10,000-service cycle does not build 10,000 rankings nobody reads.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from swen.domain.arrays import FloatArray, IntArray
from swen.domain.decision import Decision
from swen.domain.errors import EngineError
from swen.domain.models import Placement, Service
from swen.engine.calibration import HINDSIGHT_HORIZON_S
from swen.engine.confidence import WinnerHistory, margin_term, raw_probability
from swen.engine.constraints import (
    NO_DATA,
    UNHEALTHY,
    Constraint,
    constraint_flags,
    current_mask,
    quarantine_mask,
)
from swen.engine.cycle import NOT_PENDING, Cycle
from swen.engine.fleet import FleetArrays
from swen.engine.forecast import AdvantageState, copernican_model, gpu_capacity_risk
from swen.engine.leads import clear_lead_model, lead_forecast
from swen.engine.migration_cost import move_usd
from swen.engine.params import EngineParams
from swen.engine.repair import left_by_repair, sustained_breach
from swen.engine.route import judge_routes
from swen.engine.savings import EgressPrice, egress_per_gb, net_savings
from swen.engine.scoring import best_excluding, effective_availability, monthly_cost, score
from swen.engine.window import SampleWindow

_T = TypeVar("_T", bound=np.generic)


@dataclass(frozen=True, eq=False)
class EngineInputs:
    """Everything one cycle needs. The window is read, never modified."""

    services: Sequence[Service]
    window: SampleWindow
    now: datetime
    egress_usd_per_gb: EgressPrice
    params: EngineParams = field(default_factory=EngineParams)
    current: Mapping[str, Placement] | None = None
    """Applied placement per service (e.g. ``Store.get_placements()``); default: the fleet file's."""
    last_moved_at: Mapping[str, datetime] = field(default_factory=dict)
    quarantined: Collection[tuple[str, str]] = ()
    """(service or "*", placement key or provider name) pairs not to be picked."""
    gpu_models: Mapping[str, Collection[str]] | None = None
    """Placement key -> GPU models offered there (catalog); None: not checked."""
    history: WinnerHistory | None = None
    """Winner history returned by the previous cycle (None on the first cycle)."""
    emergency: Collection[str] = ()
    """Services whose current placement was marked unhealthy (alert or anomaly detector)."""
    undeployable: Mapping[str, str] = field(default_factory=dict)
    """Provider -> why the platform cannot apply a placement there (scored for comparison only)."""
    pending: Mapping[str, Placement] = field(default_factory=dict)
    """Services with an open (not yet terminal) decision -> its target. They get no second proposal;
    an emergency still goes through when it heads somewhere else than the open decision."""
    advantage: AdvantageState | None = None
    """Advantage tracking returned by the previous cycle (None on the first cycle)."""
    catalog_version: int | None = None
    """The price catalog version in force (stamped on every decision; None: not versioned)."""
    slo_left: Mapping[str, tuple[Placement, datetime]] = field(default_factory=dict)
    """Services that last left a placement by an SLO repair -> (that placement, when the repair was
    applied). The placement is not a target of another non-emergency move for ``slo_holddown_s``
    (``constraints.Constraint.SLO_HOLDDOWN``); older entries are ignored."""
    fleet: FleetArrays | None = None
    """The fleet's arrays, built once by a caller that evaluates the same services every cycle
    (``FleetArrays.build`` over ``services`` and the window's placements, with the applied placements,
    GPU models and undeployable providers; ``FleetArrays.moved`` after a move). When given, ``current``,
    ``gpu_models`` and ``undeployable`` must be left at their defaults. None: built here."""


@dataclass(frozen=True, eq=False)
class EngineResult:
    """The outcome of one cycle."""

    created_at: datetime
    recommendations: tuple[Decision, ...]
    """MIGRATE decisions (normal and emergency), in service order."""
    history: WinnerHistory
    """Pass as ``EngineInputs.history`` next cycle."""
    cycle: Cycle
    advantage: AdvantageState
    """Pass as ``EngineInputs.advantage`` next cycle."""
    """The cycle's arrays (scores, confidence, savings per service) for rendering and metrics."""

    def decision(self, service: str) -> Decision:
        """The decision for one service (MIGRATE or STAY), built on demand."""
        row = self.cycle.row_of.get(service)
        if row is None:
            raise EngineError(
                f"service {service!r} was not evaluated in this cycle",
                hint="pass it in EngineInputs.services",
            )
        return self.cycle.decision(row)

    @cached_property
    def decisions(self) -> list[Decision]:
        """One decision per service (builds every ranking: meant for small fleets, API, tests)."""
        return [self.cycle.decision(i) for i in range(len(self.cycle.fleet.services))]

    @property
    def counts(self) -> dict[str, int]:
        migrate = int(np.count_nonzero(self.cycle.migrate))
        return {
            "services": len(self.cycle.fleet.services),
            "migrate": migrate,
            "emergency": int(np.count_nonzero(self.cycle.migrate & self.cycle.emergency)),
            "stay": len(self.cycle.fleet.services) - migrate,
        }


def evaluate(inputs: EngineInputs) -> EngineResult:
    """Run one engine cycle over ``inputs.services``."""
    if inputs.now.tzinfo is None:
        raise EngineError("EngineInputs.now must be timezone-aware", hint="use datetime.now(UTC)")
    params, window = inputs.params, inputs.window
    fleet = _fleet(inputs)
    window_rows = _window_rows(fleet, window)
    seen = _Observed.of(window, window_rows, inputs.now)
    flags = constraint_flags(
        fleet,
        p95_ms=seen.p95,
        availability=seen.availability,
        gpu_availability=seen.gpu_availability,
        age_s=seen.age,
        stale_after_s=params.stale_after_s,
        availability_floor=params.availability_floor,
        gpu_availability_floor=params.gpu_availability_floor,
        quarantined=quarantine_mask(fleet, inputs.quarantined),
    )
    rows = np.arange(len(fleet.services))
    cur = fleet.current_idx
    cur_safe = np.maximum(cur, 0)
    cur_flags = np.where(cur >= 0, flags[rows, cur_safe], np.uint16(NO_DATA))
    current_has_data = (cur >= 0) & ((cur_flags & NO_DATA) == 0)
    emergency = _emergencies(fleet, inputs.emergency, params, current_has_data, cur_flags)
    left = left_by_repair(fleet, inputs.slo_left, inputs.now)
    holddown = (left.col >= 0) & (left.col != cur) & (left.ago_s < params.slo_holddown_s) & ~emergency
    if holddown.any():
        flags[rows[holddown], left.col[holddown]] |= np.uint16(Constraint.SLO_HOLDDOWN)
    feasible = flags == 0
    is_current = current_mask(fleet, flags.shape)
    monthly = monthly_cost(seen.hourly, fleet.replicas)
    scores = score(
        monthly=monthly,
        p95_ms=seen.p95,
        credits_usd=seen.credits,
        availability=effective_availability(
            seen.availability, seen.gpu_availability, fleet.is_gpu, is_current
        ),
        slo_ms=fleet.slo_ms,
        feasible=feasible,
        weights=params.weights,
        amortisation_months=params.amortisation_months,
    )
    breach = sustained_breach(fleet, window, window_rows, seen.p95)
    repairing = breach.sustained & ~emergency & current_has_data

    # Target: the best candidate; in an emergency the best *other* one (the current counts 0); for a
    # sustained SLO breach the best other one too (every candidate left meets the SLO): the current
    # placement may still score best on price, but it breaks the SLO (the repair cap bounds the price).
    target, target_total = scores.best_idx.copy(), scores.best_total.copy()
    current_total = np.where((cur >= 0) & ~emergency, scores.total[rows, cur_safe], 0.0)
    current_total = np.where(np.isneginf(current_total), 0.0, current_total)
    e_rows = np.flatnonzero(emergency | (repairing & (target == cur)))
    if e_rows.size:
        target[e_rows], target_total[e_rows] = best_excluding(scores.total, e_rows, cur[e_rows])
    has_target = target >= 0
    margin = np.where(has_target, target_total - current_total, 0.0)

    history = (
        (inputs.history or WinnerHistory.empty(fleet.names, window.placement_keys, 0))
        .aligned(fleet.names, window.placement_keys, params.stability_window)
        .pushed(scores.best_idx)
    )
    k, window_n = history.stability(target)
    freshness = _freshness(fleet, flags, current_has_data | emergency)

    tgt_safe = np.where(has_target, target, cur_safe)
    savings = net_savings(
        current_monthly=np.nan_to_num(np.where(cur >= 0, monthly[rows, cur_safe], 0.0)),
        target_monthly=np.nan_to_num(monthly[rows, tgt_safe]),
        current_credits=np.nan_to_num(np.where(cur >= 0, seen.credits[rows, cur_safe], 0.0)),
        target_credits=np.nan_to_num(seen.credits[rows, tgt_safe]),
        migration_usd=move_usd(
            fleet.state_gb,
            egress_per_gb(
                fleet.placements,
                cur,
                target,
                inputs.egress_usd_per_gb,
                fleet.egress_known(inputs.egress_usd_per_gb),
            ),
            fleet.fixed_usd(params.migration),
            has_target & (target != cur),
        ),
        amortisation_months=params.amortisation_months,
    )
    now_s = inputs.now.timestamp()
    moving = has_target & (target != cur) & (cur >= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(
            savings.current_monthly > 0,
            (savings.gross + savings.credits_offset) / savings.current_monthly,
            np.nan,
        )
    advantage = (
        (inputs.advantage or AdvantageState.empty(fleet.names, window.placement_keys))
        .aligned(fleet.names, window.placement_keys)
        .updated(np.where(moving, target, -1), cur, rel, now_s)
    )
    fold = params.calibration
    duration_model = (fold.duration_model() if fold is not None else None) or copernican_model()
    outlook, clear_lead = lead_forecast(
        advantage,
        now_s,
        duration_model,
        clear_lead_model(duration_model),
        current_monthly=savings.current_monthly,
        migration_usd=savings.migration_usd,
        horizon_days=HINDSIGHT_HORIZON_S / 86400.0,
    )
    gpu_risk = gpu_capacity_risk(
        seen.gpu_availability[rows, tgt_safe], params.gpu_availability_floor, fleet.is_gpu & moving
    )
    raw = np.where(
        advantage.target >= 0,
        raw_probability(outlook.pays_within_horizon, outlook.outlasts_payback, gpu_risk, freshness),
        0.0,
    )
    # A move for the service's sake, not its price. An emergency: the evidence is the score margin (the
    # current placement counts 0). An SLO repair (the current placement's breach is sustained, the
    # target meets the SLO): the breach itself is the evidence, so what is left uncertain is the data
    # (freshness) and, for a GPU service, the target's capacity.
    slo_repair = repairing & moving
    e_move = emergency & has_target
    service_move = slo_repair | e_move
    if service_move.any():
        by_margin = margin_term(margin, params.margin_scale) * freshness * gpu_risk
        raw = np.where(e_move, np.maximum(raw, by_margin), raw)
        raw = np.where(slo_repair, np.maximum(raw, freshness * gpu_risk), raw)
    confidence = np.where(raw > 0, fold.apply(raw), 0.0) if fold is not None else raw
    confidence = np.where(service_move, np.maximum(confidence, raw), confidence)
    cooldown_left = _cooldown_left_s(fleet, inputs.last_moved_at, inputs.now, params.cooldown_s)
    pending_idx = _pending_targets(fleet, inputs.pending)
    blocked = (pending_idx != NOT_PENDING) & (~emergency | (pending_idx == target))
    moves = has_target & (target != cur) & ~blocked
    # What the proposal bar measures. A price move pays for itself: its net saving, after the amortised
    # one-time cost. An emergency: its saving before that cost (it moves whatever it saves). An SLO
    # repair buys the SLO back: no savings bar, its extra cost must stay within the repair cap, and the
    # figure is the room left under the cap (USD/month; > 0 while within it, which is also what keeps
    # a repair waiting for a person from being withdrawn: ``review_rules.still_worth_it``).
    within_cap = savings.cost_delta_pct <= params.max_repair_cost_pct
    cap_room = savings.current_monthly * (params.max_repair_cost_pct / 100.0) - (
        savings.target_monthly - savings.current_monthly
    )
    bar_savings = np.where(
        slo_repair, cap_room, np.where(e_move, savings.gross + savings.credits_offset, savings.net)
    )
    routes = judge_routes(
        stateful=fleet.stateful,
        cost_delta_pct=savings.cost_delta_pct,
        confidence=confidence,
        advantage_age_s=outlook.age_s,
        bar_savings=bar_savings,
        days_mid=outlook.days_mid,
        auto_confidence=params.auto_confidence,
        auto_propose_confidence=params.auto_propose_confidence,
        manual_patience_s=params.manual_patience_s,
        review_cost_usd=params.review_cost_usd,
        evidence=outlook.evidence,
        auto_min_evidence=params.auto_min_evidence,
        service_move=service_move,
    )
    bars = np.where(
        slo_repair,
        (confidence > params.min_confidence) & within_cap,
        meets_thresholds(confidence, bar_savings, params),
    )
    ready = current_has_data & bars & (cooldown_left <= 0)
    migrate = moves & (emergency | (ready & routes.route_ok))
    held = moves & ~emergency & ready & routes.held  # proposed but for the value of waiting

    cycle = Cycle(
        fleet=fleet,
        params=params,
        now=inputs.now,
        row_of=fleet.row_of,
        flags=flags,
        best_total=scores.best_total,
        p95=seen.p95,
        monthly=monthly,
        credits=seen.credits,
        availability=seen.availability,
        gpu_availability=seen.gpu_availability,
        ts_last=seen.ts_last,
        instance_type=seen.instance_type,
        simulated=seen.simulated,
        target=target,
        current_total=current_total,
        margin=margin,
        stability_k=k,
        stability_n=window_n,
        freshness=freshness,
        confidence=confidence,
        savings=savings,
        cooldown_left_s=cooldown_left,
        pending_idx=pending_idx,
        emergency=emergency,
        current_has_data=current_has_data,
        cur_flags=cur_flags,
        migrate=migrate,
        raw_confidence=raw,
        calibrated=np.full(len(fleet.services), fold is not None) & ~service_move,
        gpu_risk=gpu_risk,
        outlook=outlook,
        routes=routes,
        held=held,
        bar_savings=bar_savings,
        slo_repair=slo_repair,
        slo_over=breach.over,
        slo_left_ago_s=np.where(holddown, left.ago_s, np.nan),
        tracked=advantage.target >= 0,
        catalog_version=inputs.catalog_version,
        clear_lead=clear_lead if clear_lead.any() else None,
        lead_mean=advantage.mean,
    )
    recommendations = tuple(cycle.decision(int(i)) for i in np.flatnonzero(migrate))
    return EngineResult(
        created_at=inputs.now,
        recommendations=recommendations,
        history=history,
        cycle=cycle,
        advantage=advantage,
    )


def _fleet(inputs: EngineInputs) -> FleetArrays:
    """``inputs.fleet`` checked against the inputs, or the fleet's arrays built for this cycle."""
    fleet = inputs.fleet
    if fleet is None:
        return FleetArrays.build(
            inputs.services,
            inputs.window.placements,
            current=inputs.current,
            gpu_models=inputs.gpu_models,
            undeployable=inputs.undeployable,
        )
    if inputs.current is not None or inputs.gpu_models is not None or inputs.undeployable:
        raise EngineError(
            "EngineInputs.fleet was given together with current, gpu_models or undeployable",
            hint="build the FleetArrays with them (FleetArrays.build) and pass only the fleet",
        )
    if len(fleet.services) != len(inputs.services) or fleet.placements != inputs.window.placements:
        raise EngineError(
            "EngineInputs.fleet does not match the services or the window's placements",
            hint="build it with FleetArrays.build(services, window.placements, ...)",
        )
    return fleet


@dataclass(frozen=True, eq=False)
class _Observed:
    """What the window says about the evaluated services, as this cycle's own arrays (the window is
    updated in place next cycle, so anything a later ``EngineResult.decision`` reads is copied)."""

    p95: FloatArray
    age: FloatArray
    hourly: FloatArray
    credits: FloatArray
    availability: FloatArray
    gpu_availability: FloatArray
    ts_last: FloatArray
    instance_type: npt.NDArray[np.object_]
    simulated: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, window: SampleWindow, rows: IntArray | None, now: datetime) -> _Observed:
        def own(arr: npt.NDArray[_T]) -> npt.NDArray[_T]:
            return arr.copy() if rows is None else arr[rows]

        def view(arr: npt.NDArray[_T]) -> npt.NDArray[_T]:  # only read during evaluate
            return arr if rows is None else arr[rows]

        return cls(
            p95=view(window.latency_p95()),
            age=view(window.age_s(now)),
            hourly=view(window.latest["hourly_cost_usd"]),
            credits=own(window.latest["credits_usd"]),
            availability=own(window.latest["availability"]),
            gpu_availability=own(window.latest["gpu_availability"]),
            ts_last=own(window.ts_last),
            instance_type=own(window.instance_type),
            simulated=own(window.simulated),
        )


def _emergencies(
    fleet: FleetArrays,
    named: Collection[str],
    params: EngineParams,
    current_has_data: npt.NDArray[np.bool_],
    cur_flags: npt.NDArray[np.uint16],
) -> npt.NDArray[np.bool_]:
    """Services named as emergencies, plus (auto_emergency) those whose current placement is
    observed unhealthy: below the availability floor or quarantined."""
    out = np.zeros(len(fleet.names), dtype=bool)
    for name in named:
        row = fleet.row_of.get(name)
        if row is not None:
            out[row] = True
    if params.auto_emergency:
        out |= current_has_data & ((cur_flags & UNHEALTHY) != 0)
    return out


def meets_thresholds(
    confidence: FloatArray | float, net_savings_usd: FloatArray | float, params: EngineParams
) -> npt.NDArray[np.bool_]:
    """Both thresholds, strictly: confidence > min_confidence and net savings > min_savings_usd."""
    conf = np.asarray(confidence, dtype=np.float64)
    net = np.asarray(net_savings_usd, dtype=np.float64)
    out: npt.NDArray[np.bool_] = (conf > params.min_confidence) & (net > params.min_savings_usd)
    return out


def _window_rows(fleet: FleetArrays, window: SampleWindow) -> IntArray | None:
    """Rows of the window for the fleet's services (None when the orders are identical)."""
    names = fleet.names
    if names == window.services:
        return None
    missing = [name for name in names if name not in window.service_index]
    if missing:
        raise EngineError(
            f"{len(missing)} service(s) not in the telemetry window, e.g. {missing[0]!r}",
            hint="build the SampleWindow for the current fleet (SampleWindow(services, placements, size))",
        )
    return np.array([window.service_index[name] for name in names], dtype=np.intp)


def _freshness(fleet: FleetArrays, flags: np.ndarray, current_ok: np.ndarray) -> FloatArray:
    """Share of eligible candidates (residency + GPU model) with fresh data; 0 without current data."""
    eligible = fleet.allowed & fleet.gpu_offered
    fresh = eligible & ((flags & NO_DATA) == 0)
    n_eligible = np.count_nonzero(eligible, axis=1)
    share = np.divide(
        np.count_nonzero(fresh, axis=1), n_eligible, out=np.zeros(len(n_eligible)), where=n_eligible > 0
    )
    out: FloatArray = np.where(current_ok, share, 0.0)
    return out


def _pending_targets(fleet: FleetArrays, pending: Mapping[str, Placement]) -> IntArray:
    """Candidate index of each service's open decision target; NOT_PENDING (-2) when none, -1 when
    the target is not a candidate."""
    out = np.full(len(fleet.services), NOT_PENDING, dtype=np.intp)
    if not pending:
        return out
    col = {p.key: j for j, p in enumerate(fleet.placements)}
    for name, target in pending.items():
        i = fleet.row_of.get(name)
        if i is not None:
            out[i] = col.get(target.key, -1)
    return out


def _cooldown_left_s(
    fleet: FleetArrays, last_moved_at: Mapping[str, datetime], now: datetime, cooldown_s: float
) -> FloatArray:
    """Seconds of cooldown left per service (<= 0: free to move)."""
    left = np.zeros(len(fleet.services))
    if not last_moved_at or cooldown_s <= 0:
        return left
    for name, moved in last_moved_at.items():
        i = fleet.row_of.get(name)
        if i is not None:
            left[i] = cooldown_s - (now - moved).total_seconds()
    return left


__all__ = ["EngineInputs", "EngineParams", "EngineResult", "WinnerHistory", "evaluate", "meets_thresholds"]
