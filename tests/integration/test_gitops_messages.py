"""Commit messages and MR descriptions are built from the decision; free text cannot forge trailers."""

from __future__ import annotations

import subprocess

import pytest

from support.builders import ORDERS_API, decision
from support.markdown import render_gfm
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
    assert "| `service-2` | $200.00 | $280.32 | +$80.32 (+40.2 %) |" in rollback_text
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


def _section(text: str, title: str) -> list[str]:
    """The lines of the description's section ``### title`` (up to the next heading)."""
    lines = text.split(f"### {title}\n", 1)[1].split("\n### ", 1)[0].strip().splitlines()
    return lines


def test_description_has_the_cost_table_with_the_fleet_total() -> None:
    d = SERVICE_2
    fleet = {"service-1": 140.16, "service-2": 280.32, "orders-api": 700.0}
    text = mr_description(d, kind=MRKind.MIGRATION, source=d.current, target=d.target, fleet_costs=fleet)
    assert _section(text, "Monthly cost") == [
        "|  | Monthly before | Monthly after | Difference |",
        "|---|---:|---:|---:|",
        "| `service-2` | $280.32 | $200.00 | -$80.32 (-28.7 %) |",
        "| **total (fleet)** | $1,120.48 | $1,040.16 | -$80.32 (-7.2 %) |",
        "",
        "Simulated price (no published list price): `alibaba/ap-southeast-1`",
    ]
    unpriced = mr_description(
        d, kind=MRKind.MIGRATION, source=d.current, target=d.target, fleet_costs={**fleet, "orders-api": None}
    )
    assert "total (fleet)" not in unpriced and "No fleet total" in unpriced
    rollback = mr_description(d, kind=MRKind.ROLLBACK, source=d.target, target=d.current, fleet_costs=fleet)
    assert "| **total (fleet)** | $1,040.16 | $1,120.48 | +$80.32 (+7.7 %) |" in rollback


def test_description_predicts_the_route_the_gate_will_take() -> None:
    auto = mr_description(SERVICE_2, kind=MRKind.MIGRATION, source=SERVICE_2.current, target=SERVICE_2.target)
    assert _section(auto, "Expected route")[:5] == [
        "**Expected: auto-approved** by the policy gate.",
        "",
        "- pass: cost delta -28.65 % is below 5 %",
        "- pass: confidence 0.910 is above 0.85",
        "- pass: `service-2` is stateless",
    ]
    stateful = decision("d-s", **ORDERS_API, confidence=0.75)
    person = mr_description(stateful, kind=MRKind.MIGRATION, source=stateful.current, target=stateful.target)
    route = _section(person, "Expected route")
    assert route[0] == "**Expected: a person approves it** before it is applied."
    assert "- needs a person: confidence 0.750 is not above 0.85" in route
    assert "- needs a person: `orders-api` is stateful: a person approves every move of it" in route
    emergency = decision("d-e", confidence=0.6, target_cost=150.0, emergency=True)
    waived = mr_description(
        emergency, kind=MRKind.EMERGENCY, source=emergency.current, target=emergency.target
    )
    route = _section(waived, "Expected route")
    assert route[0].endswith("(emergency override of a stateless service).")
    assert "- waived: confidence 0.600 is not above 0.85" in route
    assert "- waived: cost delta +7.02 % is not below 5 %" in route


def test_external_text_cannot_break_the_description() -> None:
    hostile = "cheaper | <img src=x onerror=alert(1)> `code` **bold** $5 and $6\n# heading\n- item @team #1"
    d = SERVICE_2.model_copy(update={"explanation": hostile})
    text = mr_description(d, kind=MRKind.MIGRATION, source=d.current, target=d.target)
    html = render_gfm(text)
    assert "<img" not in html and "<h1" not in html and "<strong>bold" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "`code`" in html
    [why] = [p for p in html.split("<h3>Why</h3>", 1)[1].split("<h3>", 1)[0].split("<p>") if p.strip()]
    assert "cheaper | " in why and "# heading" in why and "- item @team #1" in why
    assert "<ul>" not in html.split("<h3>Why</h3>", 1)[1].split("<h3>", 1)[0]
    for table in html.split("<table>")[1:]:  # every row of every table keeps its column count
        rows = table.split("</table>")[0].split("<tr>")[1:]
        assert len({row.count("<td") + row.count("<th") for row in rows}) == 1
