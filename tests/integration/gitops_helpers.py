"""Shared helpers for the GitOps integration tests (imported by test_gitops_*.py)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from swen.domain.decision import (
    Confidence,
    Decision,
    DecisionAction,
    FactorScores,
    ProviderScore,
    Savings,
)
from swen.domain.models import Placement, Weights

TEMPLATE = Path(__file__).parents[1] / "fixtures" / "infra_template"
T0 = datetime(2026, 11, 26, 10, 15, 3, tzinfo=UTC)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def make_score(
    placement: Placement, rank: int, instance_type: str, *, current: bool, cost: float
) -> ProviderScore:
    """One ranked provider with fixed factor scores (also used by pipeline_env.make_decision)."""
    f = FactorScores(cost=0.8, latency=0.7, credits=0.5, availability=0.9)
    return ProviderScore(
        placement=placement,
        rank=rank,
        factors=f,
        contributions=FactorScores(cost=0.32, latency=0.175, credits=0.1, availability=0.135),
        total=0.73 if rank == 1 else 0.6,
        monthly_cost_usd=cost,
        latency_ms=40.0,
        credits_usd=0.0,
        availability=0.999,
        gpu_availability=1.0,
        instance_type=instance_type,
        is_current=current,
    )


def make_decision(
    decision_id: str,
    *,
    service: str = "service-2",
    current: str = "aws/us-east-1",
    target: str = "alibaba/ap-southeast-1",
    at: datetime = T0,
    emergency: bool = False,
    current_type: str = "m5.xlarge",
    target_type: str = "ecs.g7.xlarge",
) -> Decision:
    cur, tgt = Placement.parse(current), Placement.parse(target)
    return Decision(
        id=decision_id,
        service=service,
        created_at=at,
        action=DecisionAction.MIGRATE,
        emergency=emergency,
        current=cur,
        target=tgt,
        ranking=(
            make_score(tgt, 1, target_type, current=False, cost=200.0),
            make_score(cur, 2, current_type, current=True, cost=280.32),
        ),
        excluded=(),
        confidence=Confidence(
            value=0.91,
            margin=0.13,
            margin_term=0.8,
            stability=1.0,
            stability_cycles=10,
            stability_window=10,
            freshness=1.0,
        ),
        savings=Savings(
            current_monthly_usd=280.32,
            target_monthly_usd=200.0,
            gross_monthly_usd=80.32,
            credits_offset_monthly_usd=0.0,
            migration_cost_usd=4.5,
            amortisation_months=6.0,
            net_monthly_usd=79.57,
            cost_delta_pct=-28.65,
        ),
        weights=Weights(),
        explanation=f"{target} is 28.7% cheaper than {current} at similar latency.",
    )
