"""The review comment's body (pipeline/review_comment.py): the gate's verdict with its reasons, the
plan and the cost; nothing in it changes between runs of the same change; external text is escaped;
a host that fails never fails the pipeline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from support.builders import ORDERS_API, decision
from support.markdown import render_gfm
from swen.domain.errors import GitOpsError
from swen.domain.merge_requests import MergeRequest, MRKind, MRState
from swen.pipeline.plan_summary import PlanSummary, summarise_plan
from swen.pipeline.review_comment import MAX_RESOURCE_ROWS, GateVerdict, post_review_comment, review_comment

NOW = datetime(2026, 12, 1, tzinfo=UTC)
AUTO = GateVerdict(
    "auto_approve",
    (
        "confidence_ok: confidence 0.910 is above 0.85",
        "cost_delta_ok: cost delta -21.52 % is below 5 %",
        "stateless: no stateful service or stateful resource in the change",
    ),
)


def _mr(service: str = "service-1", kind: MRKind = MRKind.MIGRATION, mr_id: int = 7) -> MergeRequest:
    return MergeRequest(
        id=mr_id, decision_id="d-1", service=service, branch=f"ai-rec/{service}-alibaba-20261201T000000Z",
        host="github", state=MRState.OPENED, title="t", description="", kind=kind,
        created_at=NOW, updated_at=NOW,
    )  # fmt: skip


def _plan(*changes: tuple[str, str, bool]) -> PlanSummary:
    """(service, action, stateful) per sim placement change."""
    raw = []
    for service, action, stateful in changes:
        values = {"input": {"service": service, "stateful": stateful}}
        actions = ["delete", "create"] if action == "replace" else [action]
        raw.append(
            {
                "address": f'terraform_data.placement["{service}"]', "mode": "managed",
                "type": "terraform_data", "name": "placement", "index": service,
                "change": {"actions": actions, "before": values, "after": values},
            }
        )  # fmt: skip
    return summarise_plan({"format_version": "1.2", "resource_changes": raw})


def test_an_auto_approved_change_says_why_and_what_the_plan_does() -> None:
    body = review_comment(
        _mr(), decision("d-1", confidence=0.91), _plan(("service-1", "replace", False)), AUTO
    )
    lines = body.splitlines()
    assert lines[0] == "### SWEN: plan and policy for `service-1` (migration)"
    assert "**Auto-approved** by the policy gate, because:" in lines
    assert "- `cost_delta_ok`: cost delta -21.52 \\% is below 5 \\%" in lines  # % escaped for GitLab
    assert "SWEN applies it now." in lines
    assert "`Plan: 1 to add, 0 to change, 1 to destroy.`" in lines
    assert '| replace | `terraform_data.placement["service-1"]` | no |' in lines
    assert "Stateful: no stateful resource changes." in lines
    assert lines[-1] == "`service-1`: $140.16 -> $110.00 (-$30.16, -21.5 %)."


def test_the_body_depends_only_on_the_change_and_the_verdict() -> None:
    d, plan = decision("d-1"), _plan(("service-1", "replace", False))
    assert review_comment(_mr(), d, plan, AUTO) == review_comment(_mr(), d, plan, AUTO)
    paused = GateVerdict("manual_review", ("automation_paused: automatic applies are paused",))
    assert review_comment(_mr(), d, plan, paused) != review_comment(_mr(), d, plan, AUTO)
    approved = GateVerdict(paused.outcome, paused.reasons, approved_by="alice")
    assert "Approved by alice: SWEN applies it now." in review_comment(_mr(), d, plan, approved)


def test_a_person_a_deny_an_override_and_a_rollback() -> None:
    stateful = decision("d-2", **ORDERS_API)
    person = GateVerdict(
        "manual_review", ("stateful_service: orders-api is stateful; a person must approve its move",)
    )
    body = review_comment(
        _mr("orders-api", mr_id=12), stateful, _plan(("orders-api", "replace", True)), person
    )
    assert "**Needs a person** before it is applied, because:" in body
    assert "Approve with `swen mr approve 12` or on the dashboard's review card." in body
    assert "Stateful: **yes**, 1 stateful resource(s) change." in body
    deny = GateVerdict("deny", ("deletes_beyond_move: plan would replace x",))
    denied = review_comment(
        _mr(), decision("d-1"), _plan(("service-1", "replace", False)), deny, stage="policy"
    )
    assert "**Denied** by the policy gate, because:" in denied and "nothing is applied" in denied
    assert "#### Terraform plan (policy stage)" in denied
    override = GateVerdict(
        "auto_approve", ("emergency_override: emergency move of stateless service-1 waives x",), True
    )
    assert "**Auto-approved** by the policy gate (emergency override), because:" in review_comment(
        _mr(kind=MRKind.EMERGENCY),
        decision("d-1", emergency=True),
        _plan(("service-1", "replace", False)),
        override,
    )
    rollback = review_comment(
        _mr(kind=MRKind.ROLLBACK), decision("d-1"), _plan(("service-1", "replace", False)), AUTO
    )
    assert rollback.splitlines()[-1] == "`service-1`: $110.00 -> $140.16 (+$30.16, +27.4 %)."


def test_reasons_and_names_cannot_break_the_comment() -> None:
    verdict = GateVerdict(
        "manual_review",
        (
            "changes_beyond_move: plan would update x | <img src=x onerror=alert(1)> **b**",
            "no code here [x](y)",
        ),
        approved_by="<b>mallory</b> | @all",
    )
    html = render_gfm(review_comment(_mr(), decision("d-1"), _plan(("service-1", "update", False)), verdict))
    assert "<img" not in html and "<b>" not in html and "<strong>b" not in html and "<a " not in html
    assert "x | &lt;img src=x onerror=alert(1)&gt; **b**" in html and "[x](y)" in html
    assert "Approved by &lt;b&gt;mallory&lt;/b&gt; | @all" in html


def test_a_large_plan_is_cut_to_a_counted_list() -> None:
    many = _plan(*((f"svc-{i}", "update", False) for i in range(MAX_RESOURCE_ROWS + 5)))
    body = review_comment(_mr(), decision("d-1"), many, AUTO)
    assert body.count("| update |") == MAX_RESOURCE_ROWS and "... and 5 more changed resources." in body


class _FailingHost:
    name = "github"

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def comment(self, mr_id: int, body: str) -> bool:
        self.bodies.append(body)
        raise GitOpsError(
            "GitHub commenting on a pull request failed (HTTP 502): bad gateway", transient=True
        )

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the comment step called host.{name}")


def test_a_host_that_fails_never_fails_the_pipeline() -> None:
    host = _FailingHost()
    note = post_review_comment(host, _mr(), decision("d-1"), _plan(("service-1", "replace", False)), AUTO)  # type: ignore[arg-type]
    assert len(host.bodies) == 1
    assert note.startswith("review comment not posted (GitHub commenting on a pull request failed (HTTP 502)")
    assert note.endswith("the next run tries again")
