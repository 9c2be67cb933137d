"""Decisions are plain, frozen data: the full ranking, exclusions, confidence, savings, explanation."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from swen.domain.models import Placement, Weights
from swen.domain.names import ServiceName


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class FactorScores(_Frozen):
    """Four factor scores in [0, 1], 1 best."""

    cost: float = Field(ge=0, le=1)
    latency: float = Field(ge=0, le=1)
    credits: float = Field(ge=0, le=1)
    availability: float = Field(ge=0, le=1)


class ProviderScore(_Frozen):
    """One candidate's score: factor scores, weighted contributions (weight x factor) and the total."""

    placement: Placement
    rank: int = Field(ge=1)
    factors: FactorScores
    contributions: FactorScores
    total: float = Field(ge=0, le=1)
    monthly_cost_usd: float = Field(ge=0)
    latency_ms: float = Field(ge=0)
    credits_usd: float = Field(ge=0)
    availability: float = Field(ge=0, le=1)
    gpu_availability: float = Field(ge=0, le=1)
    instance_type: str
    simulated_price: bool = False
    is_current: bool = False


class ExcludedCandidate(_Frozen):
    placement: Placement
    reasons: tuple[str, ...]


class Confidence(_Frozen):
    """How sure the engine is that moving is right, with its parts (see engine/confidence.py)."""

    value: float = Field(ge=0, le=1)
    margin: float
    """Score of the best candidate minus the score of the current placement."""
    margin_term: float = Field(ge=0, le=1)
    stability: float = Field(ge=0, le=1)
    """Share of the recent cycles in which the same candidate won."""
    stability_cycles: int = Field(ge=0)
    stability_window: int = Field(ge=0)
    freshness: float = Field(ge=0, le=1)
    """1 when every candidate has fresh, complete data; lower when stale or missing."""
    raw: float | None = Field(default=None, ge=0, le=1)
    """The uncalibrated probability (engine/confidence.py); ``value`` is its calibrated form."""
    calibrated: bool = False
    """``value`` went through an isotonic calibration fitted on replays."""
    evidence: float | None = None
    """How many noise-widths the advantage stands clear of zero (z)."""
    gpu_capacity: float | None = Field(default=None, ge=0, le=1)
    """Chance the target still has the GPU capacity when the move is applied (1 without GPUs)."""


class Forecast(_Frozen):
    """How long the target's advantage is expected to last, and what the move saves over that time."""

    advantage_age_h: float = Field(ge=0)
    """How long the target has led so far."""
    days: float = Field(ge=0)
    """Median remaining duration of the advantage (days)."""
    days_low: float = Field(ge=0)
    days_high: float = Field(ge=0)
    """80 % interval of the remaining duration (days)."""
    payback_days: float | None = Field(default=None, ge=0)
    """One-time migration cost over the daily saving (None: never pays back)."""
    horizon_net_usd: float
    """Net saving over the median duration, after the one-time migration cost."""


class Savings(_Frozen):
    current_monthly_usd: float = Field(ge=0)
    target_monthly_usd: float = Field(ge=0)
    gross_monthly_usd: float
    """current - target (positive = cheaper)."""
    credits_offset_monthly_usd: float
    """Credits usable at the target, spread over the amortisation period."""
    migration_cost_usd: float = Field(ge=0)
    """One-time cost of the move (data egress at real prices)."""
    amortisation_months: float = Field(gt=0)
    net_monthly_usd: float
    """gross + credits offset - migration cost / amortisation months."""
    cost_delta_pct: float
    """(target - current) / current x 100; negative means cheaper."""


class DecisionAction(StrEnum):
    MIGRATE = "migrate"
    STAY = "stay"


class Decision(_Frozen):
    """The engine's verdict for one service in one cycle."""

    id: str
    service: ServiceName
    created_at: datetime
    action: DecisionAction
    emergency: bool = False
    slo_repair: bool = False
    """A move for the service's latency SLO: its current placement breaks the SLO (sustained) and the
    target meets it; proposed even when it costs more, up to the engine's repair cap."""
    stateful: bool = False
    current: Placement
    target: Placement
    ranking: tuple[ProviderScore, ...]
    excluded: tuple[ExcludedCandidate, ...]
    confidence: Confidence
    savings: Savings
    weights: Weights
    explanation: str
    reasons: tuple[str, ...] = ()
    """Why this action (and, for STAY, which threshold was not met)."""
    forecast: Forecast | None = None
    """Duration of the target's advantage and the saving over it (None when staying is best)."""
    chosen_by: str | None = Field(default=None, max_length=120)
    """The person who chose this placement (``swen place``, ``POST /services/{name}/placement``);
    None for the engine's own decisions. The engine's review policy never supersedes or withdraws a
    person's choice (``swen.moves.review_policy``)."""
    catalog_version: int | None = Field(default=None, ge=1)
    """The price catalog version in force when the engine decided (``swen catalog list``); None for
    decisions made without the store's catalog (a replay, a pinned test catalog) or before versions."""


class DecisionStatus(StrEnum):
    PROPOSED = "proposed"
    MR_OPENED = "mr_opened"
    PIPELINE_RUNNING = "pipeline_running"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    APPLIED = "applied"
    VERIFIED = "verified"
    REJECTED = "rejected"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    ROLLED_BACK = "rolled_back"


_S = DecisionStatus
TERMINAL_STATUSES = frozenset({_S.VERIFIED, _S.REJECTED, _S.FAILED, _S.SUPERSEDED, _S.ROLLED_BACK})
"""No further step, except a rollback of a verified or failed move (which opens a rollback MR)."""
IN_FLIGHT_STATUSES = frozenset({_S.PROPOSED, _S.MR_OPENED, _S.PIPELINE_RUNNING, _S.APPROVED})
"""Work the platform itself still owes (resumed after a crash or restart by ``moves.driver``)."""
WAITING_STATUSES = frozenset({_S.AWAITING_APPROVAL})
"""Waiting for a person."""
OPEN_STATUSES = IN_FLIGHT_STATUSES | WAITING_STATUSES
"""A move on its way: not yet applied, not ended."""
NOT_ENDED_STATUSES = frozenset(DecisionStatus) - TERMINAL_STATUSES
"""Open, or applied and not yet verified: the move has not reached its end."""
FAILED_STATUSES = frozenset({_S.FAILED, _S.ROLLED_BACK})
"""The move did not hold (healing tries the next candidate)."""
ROLLBACK_FROM_STATUSES = frozenset({_S.APPLIED, _S.VERIFIED, _S.FAILED})
"""A rollback MR may be opened for these."""
ENDED_WITHOUT_APPLY_STATUSES = frozenset({_S.FAILED, _S.REJECTED, _S.SUPERSEDED})
"""A decision that ended like this before any apply leaves no reason to keep its MR open."""
ALLOWED_TRANSITIONS: dict[DecisionStatus, frozenset[DecisionStatus]] = {
    _S.PROPOSED: frozenset({_S.MR_OPENED, _S.SUPERSEDED, _S.FAILED, _S.REJECTED}),
    _S.MR_OPENED: frozenset({_S.PIPELINE_RUNNING, _S.SUPERSEDED, _S.FAILED, _S.REJECTED}),
    _S.PIPELINE_RUNNING: frozenset(
        {_S.AWAITING_APPROVAL, _S.APPROVED, _S.FAILED, _S.REJECTED, _S.SUPERSEDED}
    ),
    _S.AWAITING_APPROVAL: frozenset({_S.APPROVED, _S.REJECTED, _S.SUPERSEDED, _S.FAILED}),
    _S.APPROVED: frozenset({_S.APPLIED, _S.FAILED}),
    _S.APPLIED: frozenset({_S.VERIFIED, _S.FAILED, _S.ROLLED_BACK}),
    _S.VERIFIED: frozenset({_S.ROLLED_BACK}),
    _S.REJECTED: frozenset(),
    _S.FAILED: frozenset({_S.ROLLED_BACK}),
    _S.SUPERSEDED: frozenset(),
    _S.ROLLED_BACK: frozenset(),
}
