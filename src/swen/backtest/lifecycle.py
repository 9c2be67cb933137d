"""Data of the platform replay's lifecycle: how manual reviews are handled (``Lifecycle``), what the
gate and the lifecycle did (``PolicyTally``, ``LifecycleEvent``) and the moves in flight (``OpenMove``).
See ``strategies.PlatformReplay`` and docs/BACKTESTING.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from swen.domain.decision import Confidence
from swen.domain.models import Placement

ManualOutcome = Literal["live", "approve", "reject", "recheck"]
MANUAL_OUTCOMES: tuple[ManualOutcome, ...] = ("live", "approve", "reject", "recheck")


@dataclass(frozen=True)
class Lifecycle:
    """How long a recommendation takes to become a placement."""

    pipeline_delay_steps: int = 1
    """auto_approve: steps from the decision to the applied placement (MR, pipeline, apply)."""
    human_delay_h: float = 4.0
    """manual_review: hours until a person acts on the merge request."""
    manual: ManualOutcome = "live"
    """How a manual review is handled (``strategies`` module docstring): ``live`` = the live loop's
    refresh and withdraw rules, then the person approves what still waits; ``approve`` the merge
    request as it is when the delay is over, ``reject`` it, or ``recheck``: approve only if the
    engine's latest cycle still picks that target for the service."""

    @property
    def live(self) -> bool:
        return self.manual == "live"


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
    refreshed: int = 0
    """Waiting reviews proposed afresh with stronger evidence (``live``; the older one is superseded)."""
    withdrawn: int = 0
    """Waiting reviews withdrawn because the engine stopped recommending them for a window (``live``)."""
    held_steps: int = 0
    """Service-steps in which a move was held for the value of waiting (``engine.route``): it met every
    other condition, but a person's review would have cost more than waiting loses."""
    held_services: set[str] = field(default_factory=set)
    """Services with a move held at least once."""
    slo_repairs: int = 0
    """Gate decisions that were SLO repairs (``Decision.slo_repair``: the current placement breaks the
    latency SLO; proposed even when it costs more, so most go to a person)."""
    slo_repairs_auto: int = 0
    """Of those, auto-approved (stateless, under 5 % cost delta, confidence above 0.85)."""
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

    @property
    def auto_share_without_repairs(self) -> float | None:
        """The auto-approved share of the gate decisions that were not SLO repairs (a repair that costs
        5 % more or above always goes to a person: the gate's rule, never bypassed)."""
        gated = self.auto_approve + self.manual_review + self.deny - self.slo_repairs
        auto = self.auto_approve - self.slo_repairs_auto
        return auto / gated if gated else None


@dataclass(frozen=True)
class LifecycleEvent:
    """One step of a move's lifecycle in the platform replay (``PlatformReplay.journal``)."""

    step: int
    service: str
    event: str
    """``auto_approve``, ``manual_review``, ``deny`` (the gate's outcome for a proposed decision, with
    its confidence), ``refresh`` (a waiting review proposed afresh), ``withdrawn``, ``applied``,
    ``rejected_by_person`` or ``failed_no_capacity``."""
    target: str
    confidence: float | None = None
    stability: float | None = None
    for_service: bool = False
    """A gate decision the engine made for the service's sake (an emergency, or an SLO repair:
    ``hindsight.service_move``): its confidence is about health, not money, so the calibration leaves
    it out."""


@dataclass
class OpenMove:
    decision_id: str
    column: int
    target: Placement
    auto: bool
    due: int
    confidence: Confidence
    emergency: bool
    repair_from: Placement | None = None
    """An SLO repair: the placement it leaves (held down once the move is applied,
    ``EngineInputs.slo_left``)."""

    @property
    def waits_for_review(self) -> bool:
        """A manual review the live loop leaves to the refresh/withdraw rules (not emergencies)."""
        return not self.auto and not self.emergency
