"""Loop guards for self-healing: pure rules, data in, a verdict out (no clock, no store).

Before an emergency move of a service is acted on, three guards must pass:

1. **Attempt limit**: at most ``max_per_hour`` remediation attempts of the service in the last
   ``window_s`` (one hour) of simulated time (``SWEN_MAX_REMEDIATIONS_PER_HOUR``, default 3).
2. **No ping-pong**: never back and forth between two providers within the window: a move
   B -> A is refused when the service came A -> B within the window (whether by an emergency, a
   normal migration, or the remediation attempt that is still running).
3. **Consecutive failures**: after ``max_consecutive_failures`` (3) failed remediation attempts in a
   row (failed, rejected or rolled back, with no verified one in between) the flow stops.

A refused move is not retried: the caller escalates the incident to a person (an event, a
notification, the ``swen_remediation_escalated`` metric and the SelfHealingFailed alert).
The numbers follow what remediation tools do in the field (stop after 3 consecutive failures or
3 ineffective attempts; see the project brief on peer tools).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from swen.domain.models import Placement

WINDOW_S = 3600.0
MAX_CONSECUTIVE_FAILURES = 3


class Outcome(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    FAILED = "failed"


@dataclass(frozen=True)
class Attempt:
    """One earlier remediation attempt (or move) of the service."""

    decision_id: str
    at: datetime
    source: Placement
    target: Placement
    outcome: Outcome = Outcome.PENDING
    emergency: bool = True


@dataclass(frozen=True)
class GuardLimits:
    max_per_hour: int = 3
    max_consecutive_failures: int = MAX_CONSECUTIVE_FAILURES
    window_s: float = WINDOW_S


@dataclass(frozen=True)
class GuardVerdict:
    allowed: bool
    code: str
    """``ok`` | ``attempt_limit`` | ``ping_pong`` | ``consecutive_failures``."""
    reason: str

    @classmethod
    def ok(cls) -> GuardVerdict:
        return cls(True, "ok", "loop guards passed")


def check_remediation(
    *,
    service: str,
    source: Placement,
    target: Placement,
    now: datetime,
    attempts: Sequence[Attempt],
    limits: GuardLimits,
) -> GuardVerdict:
    """May ``service`` be moved ``source -> target`` now, given its earlier attempts and moves?

    ``attempts`` holds the service's recent moves and remediation attempts, any order; only those
    with ``emergency=True`` count towards the attempt limit and the failure streak.
    """
    since = now - timedelta(seconds=limits.window_s)
    recent = [a for a in attempts if since <= a.at <= now]
    emergencies = [a for a in recent if a.emergency]
    if len(emergencies) >= limits.max_per_hour:
        return GuardVerdict(
            False,
            "attempt_limit",
            f"{service}: {len(emergencies)} remediation attempts in the last "
            f"{limits.window_s / 60:.0f} min (limit {limits.max_per_hour}); a person must decide",
        )
    for a in recent:
        if a.source.provider == target.provider and a.target.provider == source.provider:
            return GuardVerdict(
                False,
                "ping_pong",
                f"{service}: moving {source.provider} -> {target.provider} would undo the move "
                f"{a.source.key} -> {a.target.key} of decision {a.decision_id} "
                f"{(now - a.at).total_seconds():.0f} s ago (no back and forth between two providers)",
            )
    streak = failure_streak([a for a in attempts if a.emergency])
    if streak >= limits.max_consecutive_failures:
        return GuardVerdict(
            False,
            "consecutive_failures",
            f"{service}: the last {streak} remediation attempts failed "
            f"(limit {limits.max_consecutive_failures}); a person must decide",
        )
    return GuardVerdict.ok()


def failure_streak(attempts: Sequence[Attempt]) -> int:
    """Failed attempts in a row, newest first, up to the last verified one (pending ones skipped)."""
    streak = 0
    for a in sorted(attempts, key=lambda x: x.at, reverse=True):
        if a.outcome is Outcome.VERIFIED:
            break
        if a.outcome is Outcome.FAILED:
            streak += 1
    return streak
