"""The escalation's `swen place` suggestions leave out what `swen place` refuses, recognised by the
engine's own wording of those exclusions: if that wording changes, this fails."""

from __future__ import annotations

from swen.engine.constraints import Constraint, describe
from swen.healing.next_steps import HARD_REASON_PREFIXES


def _reasons(flags: int) -> tuple[str, ...]:
    return describe(
        flags, service_slo_ms=50, p95_ms=80, availability=0.2, gpu_availability=0.1, age_s=900,
        stale_after_s=60, availability_floor=0.9, gpu_availability_floor=0.5, gpu_model="T4",
        undeployable_reason="no GCP Terraform module ships in this release",
    )  # fmt: skip


def test_the_exclusions_swen_place_refuses_are_recognised() -> None:
    hard = Constraint.RESIDENCY | Constraint.NO_GPU_OFFER | Constraint.UNDEPLOYABLE
    reasons = _reasons(hard)
    assert len(reasons) == 3
    assert all(r.startswith(HARD_REASON_PREFIXES) for r in reasons), reasons


def test_the_exclusions_a_person_may_overrule_are_not() -> None:
    soft = Constraint.MISSING | Constraint.STALE | Constraint.LOW_AVAILABILITY
    soft |= Constraint.LOW_GPU_AVAILABILITY | Constraint.OVER_SLO | Constraint.QUARANTINED
    reasons = _reasons(soft)
    assert reasons and not any(r.startswith(HARD_REASON_PREFIXES) for r in reasons), reasons
