"""Engine tunables, validated once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, model_validator

from swen.domain.gate_bars import MIN_AUTO_CONFIDENCE
from swen.domain.models import Weights
from swen.engine.calibration import Fold
from swen.engine.confidence import MARGIN_SCALE
from swen.engine.migration_cost import MigrationCost

MAX_REPAIR_COST_PCT = 150.0
"""Default cap on an SLO repair's extra cost (percent of the current monthly cost). The hindsight
oracle's repairs in the shipped and added scenarios cost +7 % to +108 % over the month, and the engine
saw +1 % to +27 % when it first proposed its dearer repairs (docs/BENCHMARKS.md, sloswap); 150 % lets
every one of those through with room for prices that move during a month, and
stops a repair that would cost more than two and a half times the current bill from reaching a
person's review queue as a recommendation (every repair of 5 % or more is reviewed anyway)."""

SLO_HOLDDOWN_S = 30 * 86400.0
"""Default hold-down of a placement a service left by an SLO repair (30 days). Measured (price-duel,
docs/BENCHMARKS.md, sloswap): with a week, two services whose old placement's p95 hovered around the
SLO were drawn back for its price as soon as the week was over and broke the SLO again (one of them had
ten merge requests withdrawn in the following days); the hindsight oracle never takes them back."""

if TYPE_CHECKING:  # the engine depends on the domain only; settings are read, not imported
    from swen.config import Settings


class EngineParams(BaseModel):
    """Tunables of the engine (validated; build from Settings with :meth:`from_settings`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    weights: Weights = Field(default_factory=Weights)
    min_confidence: float = Field(default=0.70, ge=0, le=1)
    min_savings_usd: float = Field(default=50.0, ge=0)
    cooldown_s: float = Field(default=3600.0, ge=0)
    amortisation_months: float = Field(default=6.0, gt=0)
    availability_floor: float = Field(default=0.90, ge=0, le=1)
    gpu_availability_floor: float = Field(default=0.20, ge=0, le=1)
    stale_after_s: float = Field(default=120.0, gt=0)
    stability_window: int = Field(default=10, ge=1, le=1000)
    margin_scale: float = Field(default=MARGIN_SCALE, gt=0)
    auto_emergency: bool = True
    """Treat a current placement below the availability floor (or quarantined) as an emergency."""
    auto_confidence: float = Field(default=MIN_AUTO_CONFIDENCE, ge=0, le=1)
    """The policy gate's auto-approve confidence bar (``policies/gate.rego``). A move the gate could
    auto-approve (stateless, cost delta under 5 %) is not proposed to a person before its confidence
    clears this bar (one move, one merge request), unless it waited ``manual_patience_s`` and a review
    is worth it (``review_cost_usd``; ``route.judge_routes``)."""
    auto_min_evidence: float = Field(default=5.0, ge=0, le=50)
    """The evidence (``z``: standard errors the smoothed advantage stands clear of zero,
    ``forecast.AdvantageState.evidence``) a move the gate would auto-approve needs before the engine
    proposes it; short of it the move is *held for stronger evidence* (``route.judge_routes``). No
    person checks an auto-approved move, and the engine picks the best of many noisy candidates every
    cycle: price noise alone puts a few of a fleet-month's comparisons 4 standard errors clear of zero.
    Measured: more auto-approved moves net positive at a small cost in savings (docs/BENCHMARKS.md,
    section ``netpos``). 0: off."""
    auto_propose_confidence: float = Field(default=MIN_AUTO_CONFIDENCE, ge=0, lt=1)
    """The engine's own confidence bar for proposing a move the gate would auto-approve (at least
    ``auto_confidence``; default: the same). Between the gate's bar and this one the move is *held for
    stronger evidence* (``route.judge_routes``). Default at the gate's bar, measured: waiting for 0.90
    or 0.92 did not raise the share of auto-approved moves that pay back where it fell short
    (calm-month 88 % -> 85 %: the same moves lost, proposed later), cut price-duel's auto share
    (80 % -> 53 %: its credit moves, held, turned into moves a person must review) and its captured
    savings (docs/BENCHMARKS.md, section ``netpos``). A stricter team can still set it
    (``Settings.auto_propose_confidence``)."""
    manual_patience_s: float = Field(default=7 * 86400.0, ge=0)
    """How long an advantage above ``min_confidence`` but short of ``auto_confidence`` holds before
    the move is proposed to a person anyway. A week: measured on the shipped scenarios, moves
    proposed to a person after 4 h in that band were net positive in hindsight only 14-40 % of the
    time (docs/BENCHMARKS.md, issue 11)."""
    review_cost_usd: float = Field(default=100.0, ge=0)
    """What one person's review of a move costs (USD). After ``manual_patience_s`` a move the gate
    could auto-approve but whose confidence is short of ``auto_confidence`` goes to a person only when
    holding it would lose more than this over the advantage's expected remaining days; else it is held
    (``route.judge_routes``). 0: every such move goes to a person after the patience."""
    max_repair_cost_pct: float = Field(default=MAX_REPAIR_COST_PCT, ge=0)
    """The cap on an SLO repair's extra cost: a service whose current placement breaks its latency SLO
    (sustained: ``repair.sustained_breach``) is moved to the best-scored candidate that meets it even
    when that costs more, as long as the cost delta is at most this many percent; a dearer repair
    stays, with a reason naming the cap (a person can still choose a placement: ``swen place``)."""
    slo_holddown_s: float = Field(default=SLO_HOLDDOWN_S, ge=0)
    """After an SLO repair, the placement the service left is not a target of another (non-emergency)
    move for this long (``EngineInputs.slo_left``): flap damping for a placement whose latency swings
    around the SLO, which would otherwise draw the service back for its price and break the SLO again
    (docs/BENCHMARKS.md, sloswap: price-duel; default 30 days, :data:`SLO_HOLDDOWN_S`). 0: no hold-down."""
    release_confidence: float = Field(default=0.50, ge=0, le=1)
    """Hysteresis: a move waiting for a person is withdrawn only once its confidence has stayed at or
    below this (or another placement led, or the saving vanished) for a whole stability window."""
    migration: MigrationCost = Field(default_factory=MigrationCost)
    """What one move costs: egress + downtime + risk (``migration_cost``); the backtest bills the same."""
    calibration: Fold | None = None
    """Isotonic calibration of the raw probability and the fitted duration model (None: raw)."""

    @model_validator(mode="after")
    def _propose_bar_not_below_the_gates(self) -> EngineParams:
        if self.auto_propose_confidence < self.auto_confidence:
            raise ValueError(
                f"auto_propose_confidence {self.auto_propose_confidence} is below the gate's "
                f"auto_confidence {self.auto_confidence}: set it at or above auto_confidence (equal: "
                "propose at the gate's bar)"
            )
        return self

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineParams:
        return cls(
            weights=settings.weights,
            min_confidence=settings.min_confidence,
            min_savings_usd=settings.min_savings_usd,
            cooldown_s=settings.cooldown_s,
            amortisation_months=settings.amortisation_months,
            availability_floor=settings.availability_floor,
            gpu_availability_floor=settings.gpu_availability_floor,
            stale_after_s=settings.stale_after_s,
            stability_window=settings.window_size,
            review_cost_usd=settings.review_cost_usd,
            auto_propose_confidence=settings.auto_propose_confidence,
            auto_min_evidence=settings.auto_min_evidence,
            max_repair_cost_pct=settings.max_repair_cost_pct,
            slo_holddown_s=settings.slo_holddown_s,
        )
