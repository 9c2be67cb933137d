"""Branch names are built only from validated pieces."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from swen.domain.errors import InvalidInputError
from swen.gitops.branch import BranchKind, branch_kind, branch_name, validate_branch_name

AT = datetime(2026, 11, 26, 10, 15, 3, tzinfo=UTC)


def test_recommendation_branch() -> None:
    assert branch_name(BranchKind.RECOMMENDATION, "service-2", "alibaba", AT) == (
        "ai-rec/service-2-alibaba-20261126T101503Z"
    )


def test_timestamp_is_utc() -> None:
    local = AT.astimezone(timezone(timedelta(hours=8)))
    assert branch_name(BranchKind.EMERGENCY, "api", "aws", local) == "emergency/api-aws-20261126T101503Z"


def test_naive_timestamp_rejected() -> None:
    with pytest.raises(InvalidInputError, match="timezone"):
        branch_name(BranchKind.ROLLBACK, "api", "aws", datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("service", "provider"),
    [
        ('svc"\nx', "aws"),
        ("..", "aws"),
        ("a..b", "aws"),
        ("--upload-pack", "aws"),
        ("svc", "--x"),
        ("svc", "a/b"),
    ],
)
def test_bad_pieces_rejected(service: str, provider: str) -> None:
    with pytest.raises(InvalidInputError):
        branch_name(BranchKind.RECOMMENDATION, service, provider, AT)


@pytest.mark.parametrize(
    "name",
    [
        "main",
        "ai-rec/../main",
        "--force",
        "ai-rec/svc-aws-2026",
        'ai-rec/s"-aws-20261126T101503Z',
        "x/s-a-20261126T101503Z",
    ],
)
def test_validate_branch_name_rejects(name: str) -> None:
    with pytest.raises(InvalidInputError):
        validate_branch_name(name)


def test_branch_kind() -> None:
    assert branch_kind("rollback/api-aws-20261126T101503Z") is BranchKind.ROLLBACK


def test_a_prefix_goes_in_front_and_is_still_recognised() -> None:
    name = branch_name(
        BranchKind.EMERGENCY,
        "service-2",
        "aws",
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        prefix="bots/swen/",
    )
    assert name == "bots/swen/emergency/service-2-aws-20260102T030405Z"
    assert branch_kind(name) is BranchKind.EMERGENCY
    assert branch_kind("ai-rec/ai-rec-aws-20260102T030405Z") is BranchKind.RECOMMENDATION
    for bad in (
        "a/b/c/d/ai-rec/s-aws-20260102T030405Z",
        "Bots/ai-rec/s-aws-20260102T030405Z",
        "x/../ai-rec/s-aws-20260102T030405Z",
    ):
        with pytest.raises(InvalidInputError):
            validate_branch_name(bad)
