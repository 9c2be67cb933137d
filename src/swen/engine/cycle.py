"""The arrays of one evaluated cycle, and how one service's frozen Decision is built from them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from swen.domain.arrays import BoolArray, FloatArray, IntArray
from swen.domain.decision import (
    Confidence,
    Decision,
    DecisionAction,
    ExcludedCandidate,
    FactorScores,
    Forecast,
    ProviderScore,
    Savings,
)
from swen.domain.gate_bars import MAX_AUTO_COST_DELTA_PCT
from swen.domain.models import Placement
from swen.engine import explain
from swen.engine.confidence import margin_term
from swen.engine.constraints import describe
from swen.engine.fleet import FleetArrays
from swen.engine.forecast import ForecastArrays
from swen.engine.leads import CLEAR_LEAD, clear_lead_phrase
from swen.engine.params import EngineParams
from swen.engine.route import Routes
from swen.engine.savings import SavingsArrays
from swen.engine.scoring import Scores, effective_availability, score

_M = TypeVar("_M", bound=BaseModel)
NOT_PENDING = -2


def _frozen(cls: type[_M], values: dict[str, Any]) -> _M:
    """Build a model from values the engine computed itself, without re-validating them.

    Like ``model_construct`` (same four attributes pydantic v2 sets) but without its generic
    per-field loop: a cycle builds ~150 of these per recommended service. Every field must be given.
    The tests check that every decision built this way passes ``Decision.model_validate``.
    """
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


def decision_id(service: str, created_at: datetime, target: Placement) -> str:
    """Deterministic id from (service, created_at, target)."""
    digest = hashlib.sha256(f"{service}|{created_at.isoformat()}|{target.key}".encode()).hexdigest()
    return f"dec-{digest[:16]}"


@dataclass(frozen=True, eq=False)
class Cycle:
    """Per-service arrays (length S) and per-cell arrays (S x C) of one cycle."""

    fleet: FleetArrays
    params: EngineParams
    now: datetime
    row_of: dict[str, int]
    flags: npt.NDArray[np.uint16]
    best_total: FloatArray
    """Total of each service's best candidate (-inf when none); rows are re-scored on demand."""
    p95: FloatArray
    monthly: FloatArray
    credits: FloatArray
    availability: FloatArray
    gpu_availability: FloatArray
    ts_last: FloatArray
    """Epoch seconds of each cell's newest sample (age = now - ts_last)."""
    instance_type: npt.NDArray[np.object_]
    simulated: BoolArray
    target: IntArray
    """Chosen candidate per service (best, or best other in an emergency); -1 when none."""
    current_total: FloatArray
    margin: FloatArray
    stability_k: IntArray
    stability_n: int
    freshness: FloatArray
    confidence: FloatArray
    savings: SavingsArrays
    cooldown_left_s: FloatArray
    pending_idx: IntArray
    """Target index of an open decision per service (NOT_PENDING when none, -1 outside the candidates)."""
    emergency: BoolArray
    current_has_data: BoolArray
    cur_flags: npt.NDArray[np.uint16]
    migrate: BoolArray
    raw_confidence: FloatArray
    """Uncalibrated probability (``confidence.raw_probability``); ``confidence`` is its calibrated form."""
    calibrated: BoolArray
    """The confidence went through the calibration (not for moves made for the SLO or health, whose
    confidence comes from the score margin)."""
    gpu_risk: FloatArray
    """P(the target has the GPU capacity at apply time); 1 without GPUs."""
    outlook: ForecastArrays
    routes: Routes
    """The route each move would take and whether the evidence suffices for it (``route.py``)."""
    held: BoolArray
    """Services whose move met every other condition but was held: the value of waiting
    (``route.judge_routes``) said a person's review would cost more than waiting loses."""
    tracked: BoolArray
    """An advantage of the target over the current placement is being tracked."""
    bar_savings: FloatArray
    """The monthly figure the proposal bar measures: the net saving (after the amortised one-time cost)
    for a price move, the saving before that cost for an emergency, and for an SLO repair the room
    left under the repair cap (``decide``). The review policy's hysteresis judges a waiting move by the
    same figure (> 0), so a repair is not withdrawn for costing more than it saves."""
    slo_repair: BoolArray
    """The move would be an SLO repair: the current placement's breach of the latency SLO is sustained
    (``repair.sustained_breach``) and the target meets the SLO. It is proposed even when it costs
    more, up to ``EngineParams.max_repair_cost_pct``."""
    slo_over: IntArray
    """Samples of the window over the SLO at the current placement (0 when its p95 is within it)."""
    slo_left_ago_s: FloatArray
    """Seconds since the service left a placement by an SLO repair, while that placement is held down
    (``Constraint.SLO_HOLDDOWN``); NaN otherwise."""
    catalog_version: int | None = None
    """The price catalog version in force (``EngineInputs.catalog_version``)."""
    clear_lead: BoolArray | None = None
    """Clear leads whose duration forecast the rule for price changes lengthened (``leads.py``);
    None: none."""
    lead_mean: FloatArray | None = None
    """The smoothed relative advantage of each service's tracked lead (``AdvantageState.mean``)."""

    # --- one service -------------------------------------------------------------------------
    def decision(self, i: int) -> Decision:
        fleet, params = self.fleet, self.params
        service = fleet.services[i]
        current = fleet.current[i]
        t = int(self.target[i])
        target = fleet.placements[t] if t >= 0 else current
        confidence = self.confidence_at(i)
        savings = self.savings.at(i)
        migrate = bool(self.migrate[i])
        if migrate:
            reasons, text = self._why_move(i, target, confidence, savings)
        else:
            reasons, text = self._why_stay(i, target, confidence, savings)
        return Decision.model_construct(
            id=decision_id(service.name, self.now, target if migrate else current),
            service=service.name,
            created_at=self.now,
            action=DecisionAction.MIGRATE if migrate else DecisionAction.STAY,
            emergency=bool(self.emergency[i]),
            slo_repair=migrate and bool(self.slo_repair[i]),
            stateful=service.stateful,
            current=current,
            target=target if migrate else current,
            ranking=self.ranking(i),
            excluded=self.excluded(i),
            confidence=confidence,
            savings=savings,
            weights=params.weights,
            explanation=text,
            reasons=reasons,
            forecast=self.forecast_at(i),
            catalog_version=self.catalog_version,
        )

    def confidence_at(self, i: int) -> Confidence:
        margin = float(self.margin[i])
        return Confidence.model_construct(
            value=float(self.confidence[i]),
            margin=margin,
            margin_term=float(margin_term(margin, self.params.margin_scale)),
            stability=float(self.stability_k[i]) / self.stability_n,
            stability_cycles=int(self.stability_k[i]),
            stability_window=self.stability_n,
            freshness=float(self.freshness[i]),
            raw=float(self.raw_confidence[i]),
            calibrated=bool(self.calibrated[i]),
            evidence=float(self.outlook.evidence[i]),
            gpu_capacity=float(self.gpu_risk[i]),
        )

    def forecast_at(self, i: int) -> Forecast | None:
        """The advantage forecast of the service's target (None when no advantage is tracked)."""
        if not self.tracked[i]:
            return None
        o = self.outlook
        payback = float(o.payback_days[i])
        return Forecast.model_construct(
            advantage_age_h=float(o.age_s[i]) / 3600.0,
            days=float(o.days_mid[i]),
            days_low=float(o.days_low[i]),
            days_high=float(o.days_high[i]),
            payback_days=payback if np.isfinite(payback) else None,
            horizon_net_usd=float(o.horizon_net_usd[i]),
        )

    def ranking(self, i: int) -> tuple[ProviderScore, ...]:
        """Feasible candidates, best first (ties keep candidate order)."""
        s = self.row_scores(i)
        total = s.total[0]
        cols = np.flatnonzero(np.isfinite(total))
        cols = cols[np.argsort(-total[cols], kind="stable")]
        w_cost, w_lat, w_cred, w_avail = self.params.weights.as_tuple()
        cur = int(self.fleet.current_idx[i])
        columns = zip(
            cols.tolist(),
            s.cost[0, cols].tolist(),
            s.latency[0, cols].tolist(),
            s.credits[0, cols].tolist(),
            s.availability[0, cols].tolist(),
            total[cols].tolist(),
            self.monthly[i, cols].tolist(),
            self.p95[i, cols].tolist(),
            self.credits[i, cols].tolist(),
            self.availability[i, cols].tolist(),
            self.gpu_availability[i, cols].tolist(),
            self.instance_type[i, cols].tolist(),
            self.simulated[i, cols].tolist(),
            strict=True,
        )
        placements = self.fleet.placements
        out: list[ProviderScore] = []
        for rank, (
            c,
            f_cost,
            f_lat,
            f_cred,
            f_avail,
            tot,
            monthly,
            p95,
            credits,
            avail,
            gpu,
            itype,
            sim,
        ) in enumerate(columns, start=1):
            factors = _frozen(
                FactorScores, {"cost": f_cost, "latency": f_lat, "credits": f_cred, "availability": f_avail}
            )
            contributions = _frozen(
                FactorScores,
                {
                    "cost": w_cost * f_cost,
                    "latency": w_lat * f_lat,
                    "credits": w_cred * f_cred,
                    "availability": w_avail * f_avail,
                },
            )
            out.append(
                _frozen(
                    ProviderScore,
                    {
                        "placement": placements[c],
                        "rank": rank,
                        "factors": factors,
                        "contributions": contributions,
                        "total": tot,
                        "monthly_cost_usd": monthly,
                        "latency_ms": p95,
                        "credits_usd": credits,
                        "availability": avail,
                        "gpu_availability": gpu,
                        "instance_type": str(itype) or "unknown",
                        "simulated_price": sim,
                        "is_current": c == cur,
                    },
                )
            )
        return tuple(out)

    def row_scores(self, i: int) -> Scores:
        """Factor scores and totals of one service, recomputed with the cycle's own kernel (the
        cycle keeps its inputs, not 5 x S x C score arrays nobody may read)."""
        fleet, row = self.fleet, slice(i, i + 1)
        is_current = (np.arange(len(fleet.placements)) == fleet.current_idx[i])[None, :]
        return score(
            monthly=self.monthly[row],
            p95_ms=self.p95[row],
            credits_usd=self.credits[row],
            availability=effective_availability(
                self.availability[row], self.gpu_availability[row], fleet.is_gpu[row], is_current
            ),
            slo_ms=fleet.slo_ms[row],
            feasible=self.flags[row] == 0,
            weights=self.params.weights,
            amortisation_months=self.params.amortisation_months,
        )

    def excluded(self, i: int) -> tuple[ExcludedCandidate, ...]:
        out = [
            ExcludedCandidate.model_construct(
                placement=self.fleet.placements[c], reasons=self.reasons_at(i, int(c))
            )
            for c in np.flatnonzero(self.flags[i])
        ]
        if self.fleet.current_idx[i] < 0:
            reason = "not among the candidate placements (no telemetry for it)"
            out.insert(
                0, ExcludedCandidate.model_construct(placement=self.fleet.current[i], reasons=(reason,))
            )
        return tuple(out)

    def reasons_at(self, i: int, c: int) -> tuple[str, ...]:
        params = self.params
        return describe(
            int(self.flags[i, c]),
            service_slo_ms=float(self.fleet.slo_ms[i]),
            p95_ms=float(self.p95[i, c]),
            availability=float(self.availability[i, c]),
            gpu_availability=float(self.gpu_availability[i, c]),
            age_s=self.now.timestamp() - float(self.ts_last[i, c]),
            stale_after_s=params.stale_after_s,
            availability_floor=params.availability_floor,
            gpu_availability_floor=params.gpu_availability_floor,
            gpu_model=self.fleet.services[i].shape.gpu_model,
            undeployable_reason=self.fleet.undeployable_reasons.get(self.fleet.placements[c].provider),
            left_ago_s=float(self.slo_left_ago_s[i]),
            holddown_s=params.slo_holddown_s,
        )

    # --- explanations ------------------------------------------------------------------------
    def _current_problem(self, i: int) -> str:
        c = int(self.fleet.current_idx[i])
        if c < 0:
            return "the current placement is not among the candidates"
        reasons = self.reasons_at(i, c)
        return ", ".join(reasons) if reasons else "marked unhealthy"

    def _breach(self, i: int) -> explain.Breach:
        c = int(self.fleet.current_idx[i])
        return explain.Breach(
            p95_ms=float(self.p95[i, c]),
            slo_ms=float(self.fleet.slo_ms[i]),
            over=int(self.slo_over[i]),
            window=self.stability_n,
        )

    def _repair_route(self, i: int, confidence: Confidence, savings: Savings) -> str:
        """Who is expected to approve a repair, and why (the gate's rules, ``route.judge_routes``)."""
        params = self.params
        bar, most = params.auto_confidence, MAX_AUTO_COST_DELTA_PCT
        if self.routes.auto_route[i] and confidence.value > bar:
            return f"the gate can auto-approve it (cost delta under {most:.0f} %, confidence above {bar:.2f})"
        if self.fleet.stateful[i]:
            why = "the service is stateful"
        elif not self.routes.auto_route[i]:
            why = "it costs more" if savings.cost_delta_pct > 0 else f"its cost delta is {most:.0f} % or more"
        else:
            why = (
                f"its confidence {explain.number(confidence.value, params.auto_confidence)} is not above "
                f"{params.auto_confidence:.2f}"
            )
        return f"a person reviews it because {why}"

    def _why_move(
        self, i: int, target: Placement, confidence: Confidence, savings: Savings
    ) -> tuple[tuple[str, ...], str]:
        params, fleet = self.params, self.fleet
        t, c = int(self.target[i]), int(fleet.current_idx[i])
        if self.slo_repair[i]:
            breach = self._breach(i)
            text = explain.explain_repair(
                service=fleet.services[i].name,
                current=fleet.current[i],
                target=target,
                savings=savings,
                breach=breach,
                target_p95_ms=float(self.p95[i, t]),
                simulated_target=bool(self.simulated[i, t]),
                route=self._repair_route(i, confidence, savings),
                confidence=confidence,
            )
            return (
                explain.repair_reason(breach),
                f"cost delta {savings.cost_delta_pct:+.1f} % within the {params.max_repair_cost_pct:.0f} % "
                "cap on a repair's extra cost",
                f"confidence {explain.number(confidence.value, params.min_confidence)} "
                f"> {params.min_confidence:.2f}",
            ), text
        emergency_why = self._current_problem(i) if self.emergency[i] else None
        current_p95 = float(self.p95[i, c]) if c >= 0 and np.isfinite(self.p95[i, c]) else None
        text = explain.explain_move(
            service=fleet.services[i].name,
            current=fleet.current[i],
            target=target,
            savings=savings,
            target_p95_ms=float(self.p95[i, t]),
            current_p95_ms=current_p95,
            slo_ms=float(fleet.slo_ms[i]),
            confidence=confidence,
            simulated_target=bool(self.simulated[i, t]),
            emergency_why=emergency_why,
            forecast=self.forecast_at(i),
        )
        if self._clear(i):
            text += f" It is {self._clear_phrase(i)}."
        if emergency_why:
            reasons = (
                f"emergency: {emergency_why}",
                "savings, confidence and cooldown thresholds do not apply",
            )
        else:
            reasons = (
                f"confidence {explain.number(confidence.value, params.min_confidence)} "
                f"> {params.min_confidence:.2f}",
                f"net savings {explain.usd(savings.net_monthly_usd)}/month "
                f"> {explain.usd(params.min_savings_usd)}",
            )
        return reasons, text

    def _why_stay(
        self, i: int, target: Placement, confidence: Confidence, savings: Savings
    ) -> tuple[tuple[str, ...], str]:
        params, fleet = self.params, self.fleet
        current = fleet.current[i]
        t, c = int(self.target[i]), int(fleet.current_idx[i])
        pending = int(self.pending_idx[i])
        if pending != NOT_PENDING:
            where = fleet.placements[pending].key if pending >= 0 else "another placement"
            if self.emergency[i] or t == pending:
                why = f"a move to {where} is already in progress"
                return ("move already in progress",), explain.explain_stay(current, [why])
        if self.emergency[i] and t < 0:
            why = f"current placement unhealthy ({self._current_problem(i)}) but no healthy candidate"
            return ("no healthy candidate",), explain.explain_stay(current, [why])
        if not self.current_has_data[i]:
            why = f"no fresh telemetry for the current placement ({self._current_problem(i)})"
            return ("current placement has no fresh telemetry",), explain.explain_stay(current, [why])
        if t < 0:
            why = "no candidate meets the hard constraints"
            if c >= 0 and self.slo_over[i] and float(self.p95[i, c]) > float(fleet.slo_ms[i]):
                why = f"{explain.breach_phrase(self._breach(i))}, but {why} (none meets the SLO)"
            return ("no candidate meets the hard constraints",), explain.explain_stay(current, [why])
        if t == c:
            return ("current placement scores best",), explain.explain_stay(current, [self._best_here(i)])
        if self.slo_repair[i]:
            return self._why_repair_stays(i, target, confidence, savings)
        reasons: list[str] = []
        alt = explain.alternative_phrase(target, savings, bool(self.simulated[i, t]))
        extras: list[str] = []
        savings_short = not savings.net_monthly_usd > params.min_savings_usd
        if savings_short:
            alt += f", below the {explain.usd(params.min_savings_usd)} threshold"
            reasons.append(
                f"net savings {explain.signed_usd(savings.net_monthly_usd)}/month not above "
                f"{explain.usd(params.min_savings_usd)}"
            )
        if not confidence.value > params.min_confidence:
            extras.append(explain.confidence_shortfall(confidence, params.min_confidence))
            reasons.append(
                f"confidence {explain.number(confidence.value, params.min_confidence)} not above "
                f"{params.min_confidence:.2f}"
            )
        elif self.routes.awaiting_evidence[i]:
            held = explain.evidence_held_reason(
                confidence=confidence.value,
                auto_confidence=params.auto_confidence,
                propose_bar=params.auto_propose_confidence,
                evidence=float(self.outlook.evidence[i]),
                min_evidence=params.auto_min_evidence,
                per_day=float(self.routes.waiting_usd_per_day[i]),
            )
            reasons.append(held)
            extras.append(held)
        elif self.routes.held[i] and not savings_short:
            held = explain.held_reason(
                confidence.value,
                params.auto_confidence,
                params.review_cost_usd,
                float(self.routes.waiting_usd_per_day[i]),
            )
            reasons.append(held)
            at_stake, days_mid = float(self.routes.at_stake_usd[i]), float(self.outlook.days_mid[i])
            extras.append(explain.held_phrase(held, at_stake, days_mid))
        elif not self.routes.route_ok[i]:
            extras.append(
                f"confidence {explain.number(confidence.value, params.auto_confidence)} is not yet above "
                f"the {params.auto_confidence:.2f} an auto-approved move needs (proposed to a person "
                f"once the advantage has held {_duration(params.manual_patience_s)}, if a review costs "
                f"less than waiting loses)"
            )
            reasons.append(
                f"confidence not yet above {params.auto_confidence:.2f} for the auto-approve route"
            )
        forecast = self.forecast_at(i)
        if forecast is not None and not savings_short:
            extras.append(explain.forecast_phrase(forecast))
            if self._clear(i):
                extras.append(f"it is {self._clear_phrase(i)}")
        self._in_flight_or_cooling(i, extras, reasons)
        text = alt
        if extras:
            text += (" and " if savings_short else " but ") + " and ".join(extras)
        return tuple(reasons), explain.explain_stay(current, [text])

    def _in_flight_or_cooling(self, i: int, phrases: list[str], reasons: list[str]) -> None:
        """Adds why a move cannot be proposed now whatever its evidence: one already in progress (an
        open decision), or the cooldown after the last move."""
        pending = int(self.pending_idx[i])
        if pending != NOT_PENDING:
            where = self.fleet.placements[pending].key if pending >= 0 else "another placement"
            phrases.append(f"a move to {where} is already in progress")
            reasons.append("move already in progress")
        left = float(self.cooldown_left_s[i])
        if left > 0:
            phrases.append(f"in cooldown after the last move for another {_duration(left)}")
            reasons.append(f"in cooldown for another {left:.0f} s")

    def _clear(self, i: int) -> bool:
        return self.clear_lead is not None and bool(self.clear_lead[i])

    def _clear_phrase(self, i: int) -> str:
        return clear_lead_phrase(float(self.lead_mean[i]) if self.lead_mean is not None else CLEAR_LEAD)

    def _why_repair_stays(
        self, i: int, target: Placement, confidence: Confidence, savings: Savings
    ) -> tuple[tuple[str, ...], str]:
        """A sustained SLO breach with a candidate that meets the SLO, and why it is not repaired now."""
        params, fleet = self.params, self.fleet
        t = int(self.target[i])
        breach = self._breach(i)
        where = explain.repair_target_phrase(target, float(self.p95[i, t]), bool(self.simulated[i, t]))
        reasons: list[str] = [explain.repair_reason(breach)]
        nots: list[str] = []
        if not savings.cost_delta_pct <= params.max_repair_cost_pct:
            nots.append(explain.over_cap_phrase(params.max_repair_cost_pct))
            reasons.append(
                f"repair over the cost cap: cost delta {savings.cost_delta_pct:+.1f} % above "
                f"{params.max_repair_cost_pct:.0f} % (max_repair_cost_pct)"
            )
        if not confidence.value > params.min_confidence:
            nots.append(
                f"confidence {explain.number(confidence.value, params.min_confidence)} is not above "
                f"{params.min_confidence:.2f} ({explain.repair_uncertainty(confidence)})"
            )
            reasons.append(
                f"confidence {explain.number(confidence.value, params.min_confidence)} not above "
                f"{params.min_confidence:.2f}"
            )
        self._in_flight_or_cooling(i, nots, reasons)
        text = f"{explain.breach_phrase(breach)}; {where} {explain.repair_price_phrase(savings)}"
        if nots:
            text += " but " + " and ".join(nots)
        return tuple(reasons), explain.explain_stay(fleet.current[i], [text])

    def _best_here(self, i: int) -> str:
        total = self.row_scores(i).total[0]
        c = int(self.fleet.current_idx[i])
        others = np.flatnonzero(np.isfinite(total))
        others = others[others != c]
        if not others.size:
            return "it is the only candidate that meets the hard constraints"
        runner = int(others[np.argmax(total[others])])
        return (
            f"it scores best ({total[c]:.2f}; next {self.fleet.placements[runner].key} {total[runner]:.2f})"
        )


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"
