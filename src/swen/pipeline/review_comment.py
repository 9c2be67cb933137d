"""The comment SWEN posts on a merge request after its plan and policy stages (Atlantis style).

It says what the gate decided and why (auto-approved because ..., needs a person because ..., denied
because ...), what the plan does (Terraform's "Plan: 1 to add, 0 to change, 1 to destroy." and each
changed resource with its stateful flag) and what the change costs per month. The runner posts it at
the end of the plan stage (or of the policy stage when the gate denies) through the host's
``comment``, which skips a body equal to the last one SWEN posted on that merge request: a re-run
with the same plan and verdict posts nothing; a branch whose plan changed, or a verdict that changed
(automation paused, a person's approval), posts again. The body therefore holds nothing that changes
from run to run without the change changing (no run id, no time, no commit).

A comment that cannot be posted never fails the pipeline: the stage log says so, and the next run
tries again (nothing was recorded as posted).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from swen.domain.decision import Decision
from swen.domain.errors import SwenError
from swen.domain.merge_requests import MergeRequest
from swen.gitops import markdown as md
from swen.gitops.mr_description import change_economics, usd
from swen.gitops.mr_hosts import MergeRequestHost
from swen.pipeline.plan_summary import PlanSummary

log = logging.getLogger(__name__)

__all__ = [
    "MAX_RESOURCE_ROWS",
    "GateVerdict",
    "PlanBrief",
    "ResourceLine",
    "brief_of",
    "post_review_comment",
    "review_comment",
]

MAX_RESOURCE_ROWS = 100
"""Resources listed in a comment; more are counted (a comment has at most 60,000 characters)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ResourceLine(_Frozen):
    address: str
    action: str
    stateful: bool


class PlanBrief(_Frozen):
    """A plan as a reviewer reads it (Terraform's "Plan: 1 to add, 0 to change, 1 to destroy")."""

    to_add: int
    to_change: int
    to_destroy: int
    resources: tuple[ResourceLine, ...]
    stage: str
    """``plan`` when the plan stage confirmed it, ``policy`` when only the policy check planned it."""

    @property
    def line(self) -> str:
        return f"Plan: {self.to_add} to add, {self.to_change} to change, {self.to_destroy} to destroy."

    @property
    def stateful(self) -> bool:
        return any(r.stateful for r in self.resources)


def brief_of(summary: PlanSummary, *, stage: str) -> PlanBrief:
    """Terraform's counts (a replace is one add and one destroy) and the changed resources."""
    c = summary.counts
    return PlanBrief(
        to_add=c.create + c.replace,
        to_change=c.update,
        to_destroy=c.delete + c.replace,
        resources=tuple(
            ResourceLine(address=r.address, action=r.action, stateful=r.stateful)
            for r in summary.resource_changes
        ),
        stage=stage,
    )


@dataclass(frozen=True)
class GateVerdict:
    """What the gate decided for this run, as the runner acts on it (a pause already applied)."""

    outcome: str
    """auto_approve | manual_review | deny"""
    reasons: tuple[str, ...]
    override: bool = False
    approved_by: str | None = None
    """A person who approved before this run: the change is applied although the gate wants one."""


def _reason(reason: str) -> str:
    code, sep, rest = reason.partition(":")
    if sep and code and code.replace("_", "").isalnum():
        return f"- {md.code(code, cell=False)}: {md.text(rest)}"
    return f"- {md.text(reason)}"


def _verdict_lines(mr: MergeRequest, verdict: GateVerdict) -> list[str]:
    if verdict.outcome == "auto_approve":
        head = "**Auto-approved** by the policy gate" + (" (emergency override)" if verdict.override else "")
        tail = "SWEN applies it now."
    elif verdict.outcome == "deny":
        head, tail = "**Denied** by the policy gate", "The merge request is closed; nothing is applied."
    else:
        head = "**Needs a person** before it is applied"
        if verdict.approved_by:
            tail = f"Approved by {md.text(verdict.approved_by)}: SWEN applies it now."
        else:
            tail = (
                f"Approve with {md.code(f'swen mr approve {mr.id}', cell=False)} or on the dashboard's "
                "review card."
            )
    because = [_reason(r) for r in verdict.reasons] or ["- (the gate gave no reason)"]
    return [f"{head}, because:", "", *because, "", tail]


def _plan_lines(plan: PlanBrief) -> list[str]:
    lines = [f"`{plan.line}`", ""]
    if not plan.resources:
        return [*lines, "No resource changes."]
    shown = plan.resources[:MAX_RESOURCE_ROWS]
    lines += md.table(
        ["Action", "Resource", "Stateful"],
        [[md.text(r.action), md.code(r.address), "**yes**" if r.stateful else "no"] for r in shown],
    )
    if len(plan.resources) > len(shown):
        lines.append(f"\n... and {len(plan.resources) - len(shown)} more changed resources.")
    stateful = sum(r.stateful for r in plan.resources)
    lines += [
        "",
        f"Stateful: **yes**, {stateful} stateful resource(s) change."
        if stateful
        else "Stateful: no stateful resource changes.",
    ]
    return lines


def review_comment(
    mr: MergeRequest, decision: Decision, summary: PlanSummary, verdict: GateVerdict, *, stage: str = "plan"
) -> str:
    """The comment's Markdown for ``mr`` (see the module docstring)."""
    before, after, _net, _delta = change_economics(decision, mr.kind)
    difference = after - before
    pct = f", {difference / before * 100:+.1f} %" if before > 0 else ""
    return "\n".join(
        [
            f"### SWEN: plan and policy for {md.code(mr.service, cell=False)} ({md.text(mr.kind.value)})",
            "",
            *_verdict_lines(mr, verdict),
            "",
            f"#### Terraform plan ({md.text(stage)} stage)",
            "",
            *_plan_lines(brief_of(summary, stage=stage)),
            "",
            "#### Monthly cost",
            "",
            f"{md.code(mr.service, cell=False)}: {usd(before)} -> {usd(after)} "
            f"({usd(difference, signed=True)}{pct}).",
        ]
    )


def post_review_comment(
    host: MergeRequestHost,
    mr: MergeRequest,
    decision: Decision,
    summary: PlanSummary,
    verdict: GateVerdict,
    *,
    stage: str = "plan",
) -> str:
    """Post the comment unless it equals SWEN's last one on ``mr``; never raises a SwenError.
    Returns what happened, for the stage log."""
    try:
        body = review_comment(mr, decision, summary, verdict, stage=stage)
        posted = host.comment(mr.id, body)
    except SwenError as exc:
        log.warning("review comment on MR %s not posted: %s", mr.id, exc)
        return f"review comment not posted ({exc.message}); the next run tries again"
    return "review comment posted" if posted else "review comment unchanged since SWEN's last one: not posted"
