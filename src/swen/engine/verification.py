"""Is a service healthy at its new placement? Pure rule used to mark an applied move ``verified``.

A move is verified after ``needed`` consecutive healthy samples of the service at its target placement,
taken after the apply; it has failed after ``needed`` consecutive unhealthy ones.

Telemetry carries simulated time while the pipeline stamps the apply with wall time, so the two are not
compared: the first sample seen once the decision is ``applied`` is the baseline (it may predate the
apply) and only strictly newer samples count. Healthy means: availability at or above the floor,
p95 latency within the service's SLO and an error rate below ``max_error_rate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from swen.domain.models import Service, TelemetrySample

MAX_ERROR_RATE = 0.05


class Verdict(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    FAILED = "failed"


@dataclass(frozen=True)
class VerificationState:
    """Plain data carried between cycles (persisted as a store flag)."""

    healthy_streak: int = 0
    unhealthy_streak: int = 0
    last_ts: datetime | None = None
    last_problem: str | None = None


def health_problem(service: Service, sample: TelemetrySample, availability_floor: float) -> str | None:
    """None when the sample is healthy, else what is wrong."""
    if sample.availability < availability_floor:
        return f"availability {sample.availability:.3f} below the floor {availability_floor:.2f}"
    if sample.latency_ms > service.latency_slo_ms:
        return f"p95 latency {sample.latency_ms:.0f} ms above the SLO {service.latency_slo_ms:.0f} ms"
    if sample.error_rate >= MAX_ERROR_RATE:
        return f"error rate {sample.error_rate:.1%} at or above {MAX_ERROR_RATE:.0%}"
    return None


def observe(
    state: VerificationState,
    service: Service,
    sample: TelemetrySample | None,
    *,
    needed: int,
    availability_floor: float,
) -> tuple[VerificationState, Verdict]:
    """Fold the newest sample (or none) of the service at its target into the state."""
    if sample is None:
        return state, Verdict.PENDING
    if state.last_ts is None:  # baseline: the newest sample when the apply was first seen
        return VerificationState(last_ts=sample.ts), Verdict.PENDING
    if sample.ts <= state.last_ts:
        return state, Verdict.PENDING
    problem = health_problem(service, sample, availability_floor)
    if problem is None:
        new = VerificationState(state.healthy_streak + 1, 0, sample.ts, None)
        return new, Verdict.VERIFIED if new.healthy_streak >= needed else Verdict.PENDING
    new = VerificationState(0, state.unhealthy_streak + 1, sample.ts, problem)
    return new, Verdict.FAILED if new.unhealthy_streak >= needed else Verdict.PENDING
