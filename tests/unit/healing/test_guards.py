"""Loop guards: attempt limit per hour, no ping-pong between two providers, consecutive failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from swen.domain.models import Placement
from swen.healing.guards import Attempt, GuardLimits, Outcome, check_remediation, failure_streak

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
AWS = Placement(provider="aws", region="us-east-1")
ALI = Placement(provider="alibaba", region="us-west-1")
GCP = Placement(provider="gcp", region="us-central1")
AWS_W = Placement(provider="aws", region="us-west-2")
LIMITS = GuardLimits(max_per_hour=3)


def attempt(n: int, source: Placement, target: Placement, *, ago_s: float, outcome: Outcome = Outcome.FAILED,
            emergency: bool = True) -> Attempt:  # fmt: skip
    return Attempt(f"d{n}", NOW - timedelta(seconds=ago_s), source, target, outcome, emergency)


def check(source: Placement, target: Placement, attempts: list[Attempt], limits: GuardLimits = LIMITS):  # type: ignore[no-untyped-def]
    return check_remediation(
        service="web", source=source, target=target, now=NOW, attempts=attempts, limits=limits
    )


def test_a_first_attempt_is_allowed() -> None:
    verdict = check(AWS, ALI, [])
    assert verdict.allowed and verdict.code == "ok"


def test_attempt_limit_counts_only_the_last_hour() -> None:
    two = [attempt(1, AWS, ALI, ago_s=600), attempt(2, ALI, GCP, ago_s=300, outcome=Outcome.PENDING)]
    assert check(GCP, AWS_W, two).allowed
    three = [*two, attempt(3, GCP, AWS_W, ago_s=60, outcome=Outcome.VERIFIED)]
    refused = check(AWS_W, Placement(provider="gcp", region="europe-west4"), three)
    assert not refused.allowed and refused.code == "attempt_limit"
    assert "3 remediation attempts" in refused.reason and "limit 3" in refused.reason
    old = [attempt(i, AWS, ALI, ago_s=3601 + i, outcome=Outcome.VERIFIED) for i in range(5)]
    assert check(AWS, GCP, old).allowed


def test_the_limit_follows_the_setting() -> None:
    one = [attempt(1, AWS, ALI, ago_s=60, outcome=Outcome.VERIFIED)]
    assert not check(ALI, GCP, one, GuardLimits(max_per_hour=1)).allowed
    assert check(ALI, GCP, one, GuardLimits(max_per_hour=2)).allowed


def test_normal_moves_do_not_count_towards_the_limit_but_do_count_for_ping_pong() -> None:
    moves = [attempt(i, AWS, AWS_W, ago_s=100 + i, emergency=False) for i in range(5)]
    assert check(AWS_W, GCP, moves).allowed
    came = attempt(1, ALI, AWS_W, ago_s=900, outcome=Outcome.VERIFIED, emergency=False)
    refused = check(AWS_W, ALI, [came])
    assert not refused.allowed and refused.code == "ping_pong"


def test_back_and_forth_between_two_providers_is_refused() -> None:
    went = [attempt(1, AWS, ALI, ago_s=600, outcome=Outcome.FAILED)]
    refused = check(ALI, AWS_W, went)  # another AWS region is still AWS: back to the provider it left
    assert not refused.allowed and refused.code == "ping_pong"
    assert "aws/us-east-1 -> alibaba/us-west-1" in refused.reason and "d1" in refused.reason
    assert check(ALI, GCP, went).allowed  # onwards to a third provider is fine
    assert check(ALI, AWS, [attempt(1, AWS, ALI, ago_s=3700)]).allowed  # outside the window


def test_consecutive_failures_stop_the_loop_until_one_is_verified() -> None:
    failed = [attempt(i, AWS, ALI, ago_s=4000 + 600 * i) for i in range(3)]  # older than the hour
    refused = check(GCP, AWS_W, failed)
    assert not refused.allowed and refused.code == "consecutive_failures"
    recovered = [*failed, attempt(9, ALI, GCP, ago_s=3900, outcome=Outcome.VERIFIED)]
    assert check(GCP, AWS_W, recovered).allowed


def test_failure_streak_skips_pending_and_stops_at_verified() -> None:
    history = [
        attempt(1, AWS, ALI, ago_s=50),
        attempt(2, AWS, ALI, ago_s=40, outcome=Outcome.PENDING),
        attempt(3, AWS, ALI, ago_s=30),
        attempt(4, AWS, ALI, ago_s=100, outcome=Outcome.VERIFIED),
        attempt(5, AWS, ALI, ago_s=200),
    ]
    assert failure_streak(history) == 2
    assert failure_streak([]) == 0
