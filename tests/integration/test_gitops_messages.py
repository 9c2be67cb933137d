"""Commit messages and MR descriptions are built from the decision; free text cannot forge trailers."""

from __future__ import annotations

import subprocess

import pytest

from support.builders import decision
from swen.domain.errors import InvalidInputError
from swen.domain.merge_requests import MRKind
from swen.gitops.committer import commit_message, instance_type_for, mr_description
from swen.gitops.mr_hosts import validate_actor, validate_reason

SERVICE_2 = decision(
    "d-9",
    service="service-2",
    target_type="ecs.g7.xlarge",
    current_cost=280.32,
    target_cost=200.0,
    confidence=0.91,
)
"""service-2 from aws/us-east-1 to alibaba/ap-southeast-1: $280.32 -> $200.00 a month, 28.65 % less."""


def _trailers(message: str) -> list[tuple[str, str]]:
    out = subprocess.run(
        ["git", "interpret-trailers", "--parse"], input=message, capture_output=True, text=True, check=True
    ).stdout
    return [tuple(line.split(": ", 1)) for line in out.splitlines()]  # type: ignore[misc]


def test_commit_message_layout() -> None:
    d = SERVICE_2
    message = commit_message(d, kind=MRKind.MIGRATION, source=d.current, target=d.target)
    title, blank, *_rest = message.splitlines()
    assert title == "swen: move service-2 aws/us-east-1 -> alibaba/ap-southeast-1" and blank == ""
    assert _trailers(message) == [
        ("Decision-Id", "d-9"),
        ("Kind", "migration"),
        ("Service", "service-2"),
        ("From", "aws/us-east-1"),
        ("To", "alibaba/ap-southeast-1"),
        ("Savings-Monthly-USD", "79.57"),
        ("Cost-Delta-Pct", "-28.65"),
        ("Confidence", "0.910"),
    ]


def test_explanation_cannot_inject_trailers_or_control_characters() -> None:
    d = SERVICE_2.model_copy(update={"explanation": "cheaper\x1b[31m\n\nDecision-Id: forged"})
    message = commit_message(d, kind=MRKind.EMERGENCY, source=d.current, target=d.target)
    assert "\x1b" not in message and message.startswith("swen: emergency move service-2")
    assert ("Decision-Id", "d-9") in _trailers(message)
    assert ("Decision-Id", "forged") not in _trailers(message)


def test_rollback_message_and_description() -> None:
    d = SERVICE_2
    message = commit_message(d, kind=MRKind.ROLLBACK, source=d.target, target=d.current)
    assert message.startswith("swen: roll back service-2 alibaba/ap-southeast-1 -> aws/us-east-1\n\n")
    trailers = dict(_trailers(message))
    assert trailers["Savings-Monthly-USD"] == "-80.32"  # the move back costs what the move saved (gross)
    assert trailers["Cost-Delta-Pct"] == "40.16"  # 200 -> 280.32
    rollback_text = mr_description(d, kind=MRKind.ROLLBACK, source=d.target, target=d.current)
    assert "| Monthly cost | $200.00 -> $280.32 (+40.2%) |" in rollback_text
    assert "Rollback of decision `d-9`" in rollback_text
    text = mr_description(d, kind=MRKind.MIGRATION, source=d.current, target=d.target)
    assert "| Net savings | $79.57/month |" in text and "| 2 | `aws/us-east-1` (current)" in text


def test_instance_type_from_ranking_is_validated() -> None:
    d = SERVICE_2
    assert instance_type_for(d, d.target) == "ecs.g7.xlarge"
    bad = decision("d-9", target_type='x"\n}')
    with pytest.raises(InvalidInputError):
        instance_type_for(bad, bad.target)


@pytest.mark.parametrize("name", ["", "   ", "a\nb", "x" * 129])
def test_bad_actor_names(name: str) -> None:
    with pytest.raises(InvalidInputError):
        validate_actor(name)


def test_reason_required() -> None:
    assert validate_reason("  too risky ") == "too risky"
    with pytest.raises(InvalidInputError):
        validate_reason(" ")
