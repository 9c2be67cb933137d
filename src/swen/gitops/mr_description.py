"""The merge request's description, written when SWEN opens it: what a reviewer reads first.

- **the change**: decision, kind, service, from and to, net savings, confidence;
- **the monthly cost, Infracost style**: the service's cost before and after the change and the
  difference, and the fleet's total before and after (every service where it runs now, with this one
  swapped), when the caller knows what the fleet costs;
- **why**: the decision's explanation;
- **the expected route**: which way the policy gate is expected to send the change and why, stated as
  predictions from the decision (the gate itself decides after the plan, which can add reasons of its
  own: a stateful resource, a change beyond the service's placement);
- **the ranking**: the top candidates with their scores and monthly costs.

Every value that did not come from SWEN's own formatting goes through :mod:`swen.gitops.markdown`.
The plan and the gate's actual verdict come later, as a comment (``swen.pipeline.review_comment``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from swen.domain.decision import Decision
from swen.domain.gate_bars import MAX_AUTO_COST_DELTA_PCT, MIN_AUTO_CONFIDENCE
from swen.domain.merge_requests import MRKind
from swen.domain.models import Placement
from swen.gitops import markdown as md

__all__ = [
    "FLEET_ROW",
    "MAX_AUTO_COST_DELTA_PCT",
    "MIN_AUTO_CONFIDENCE",
    "CostLine",
    "ExpectedRoute",
    "change_economics",
    "cost_lines",
    "cost_table_lines",
    "expected_route",
    "mr_description",
    "usd",
]

FLEET_ROW = "total (fleet)"


class CostLine(BaseModel):
    """One row of the cost table: monthly cost before and after the change."""

    model_config = ConfigDict(frozen=True)

    name: str
    before_monthly_usd: float
    after_monthly_usd: float

    @property
    def delta_monthly_usd(self) -> float:
        return self.after_monthly_usd - self.before_monthly_usd


def change_economics(decision: Decision, kind: MRKind) -> tuple[float, float, float, float]:
    """(monthly cost before, after, net monthly savings, cost delta %) of this change.

    A rollback reverses the decision's move, so its figures are the decision's, reversed.
    """
    s = decision.savings
    if kind is not MRKind.ROLLBACK:
        return s.current_monthly_usd, s.target_monthly_usd, s.net_monthly_usd, s.cost_delta_pct
    before, after = s.target_monthly_usd, s.current_monthly_usd
    delta = (after - before) / before * 100 if before > 0 else 0.0
    return before, after, before - after, delta


def cost_lines(
    service: str, before: float, after: float, fleet_costs: Mapping[str, float | None] | None
) -> tuple[CostLine, ...]:
    """The service's row, then the fleet total's when every service of ``fleet_costs`` (name ->
    monthly cost where it runs now, None while unpriced) has a price: the fleet as it is, with this
    service counted at ``before``, and the same with it at ``after``."""
    rows = [CostLine(name=service, before_monthly_usd=before, after_monthly_usd=after)]
    costs = dict(fleet_costs or {})
    if costs and all(c is not None for c in costs.values()):
        fleet = sum(c for c in costs.values() if c is not None)
        now = costs.get(service)
        base = fleet if now is None else fleet - now + before
        rows.append(
            CostLine(name=FLEET_ROW, before_monthly_usd=base, after_monthly_usd=base + after - before)
        )
    return tuple(rows)


def usd(amount: float, *, signed: bool = False) -> str:
    """``$1,234.50``; ``signed``: ``+$12.00`` / ``-$80.32`` (the sign outside the dollar)."""
    if not signed:
        return f"${amount:,.2f}"
    sign = "-" if amount < 0 else "+"
    return f"{sign}${abs(amount):,.2f}"


def _pct(delta: float, base: float) -> str:
    return f" ({delta / base * 100:+.1f} %)" if base > 0 else ""


def cost_table_lines(rows: tuple[CostLine, ...]) -> list[str]:
    """The Infracost-style table: one row per line of ``rows`` (the fleet total in bold)."""
    body = []
    for row in rows:
        name = f"**{md.text(row.name)}**" if row.name == FLEET_ROW else md.code(row.name)
        delta = row.delta_monthly_usd
        body.append(
            [
                name,
                usd(row.before_monthly_usd),
                usd(row.after_monthly_usd),
                usd(delta, signed=True) + _pct(delta, row.before_monthly_usd),
            ]
        )
    return md.table(
        ["", "Monthly before", "Monthly after", "Difference"], body, align=["left", "right", "right", "right"]
    )


@dataclass(frozen=True)
class ExpectedRoute:
    """Where the gate is expected to send a change, with one check per rule it applies."""

    auto_approve: bool
    override: bool
    """An emergency of a stateless service: the cost and confidence rules are waived."""
    checks: tuple[tuple[bool, str], ...]
    """(passes, what the rule says about this change), in the gate's order."""


def expected_route(
    *, service: str, stateful: bool, emergency: bool, confidence: float, cost_delta_pct: float
) -> ExpectedRoute:
    """The gate's review rules applied to what the decision says (docs/POLICY.md): auto-approve iff
    the cost delta is below 5 %, the confidence above 0.85 and nothing is stateful; an emergency of a
    stateless service waives the cost and confidence rules."""
    cost_ok = cost_delta_pct < MAX_AUTO_COST_DELTA_PCT
    confidence_ok = confidence > MIN_AUTO_CONFIDENCE
    name = md.code(service, cell=False)
    checks = (
        (
            cost_ok,
            f"cost delta {cost_delta_pct:+.2f} % is {'below' if cost_ok else 'not below'} "
            f"{MAX_AUTO_COST_DELTA_PCT:g} %",
        ),
        (
            confidence_ok,
            f"confidence {confidence:.3f} is {'above' if confidence_ok else 'not above'} "
            f"{MIN_AUTO_CONFIDENCE:g}",
        ),
        (
            not stateful,
            f"{name} is stateless"
            if not stateful
            else f"{name} is stateful: a person approves every move of it",
        ),
    )
    override = emergency and not stateful and not (cost_ok and confidence_ok)
    auto = not stateful and (override or (cost_ok and confidence_ok))
    return ExpectedRoute(auto_approve=auto, override=override, checks=checks)


def _route_lines(decision: Decision, kind: MRKind, delta: float) -> list[str]:
    emergency = decision.emergency and kind is not MRKind.ROLLBACK
    route = expected_route(
        service=decision.service,
        stateful=decision.stateful,
        emergency=emergency,
        confidence=decision.confidence.value,
        cost_delta_pct=delta,
    )
    if route.auto_approve:
        head = "**Expected: auto-approved** by the policy gate"
        head += " (emergency override of a stateless service)." if route.override else "."
    else:
        head = "**Expected: a person approves it** before it is applied."
    lines = [head, ""]
    for ok, what in route.checks:
        waived = route.override and not ok
        mark = "waived" if waived else ("pass" if ok else "needs a person")
        lines.append(f"- {mark}: {what}")
    lines += [
        "",
        "These are predictions from the decision. The gate decides after planning the change, and the "
        "plan can add reasons of its own (a stateful resource, a change beyond this service's "
        "placement); its verdict and the plan follow as a comment."
        + (" While automatic applies are paused, a person applies it." if route.auto_approve else ""),
    ]
    return lines


def mr_description(
    decision: Decision,
    *,
    kind: MRKind,
    source: Placement,
    target: Placement,
    fleet_costs: Mapping[str, float | None] | None = None,
) -> str:
    """Markdown for the merge request (see the module docstring). ``fleet_costs``: every fleet
    service's monthly cost where it runs now (None when unpriced); without it, no fleet total."""
    before, after, net, delta = change_economics(decision, kind)
    stateful = " (stateful)" if decision.stateful else ""
    summary = md.table(
        ["", ""],
        [
            ["Decision", md.code(decision.id)],
            ["Kind", md.text(kind.value) + _kind_note(decision)],
            ["Service", md.code(decision.service) + stateful],
            ["From -> to", f"{md.code(source.key)} -> {md.code(target.key)}"],
            ["Net savings", f"{usd(net)}/month"],
            ["Confidence", f"{decision.confidence.value:.1%}"],
        ],
    )
    rows = cost_lines(decision.service, before, after, fleet_costs)
    cost_note = []
    if len(rows) == 1:
        cost_note = ["", "_No fleet total: not every service of the fleet has a price yet._"]
    simulated = [
        p.placement.key for p in decision.ranking if p.simulated_price and p.placement in (source, target)
    ]
    if simulated:
        cost_note += [
            "",
            "Simulated price (no published list price): "
            + ", ".join(md.code(k, cell=False) for k in simulated),
        ]
    why = md.paragraphs(decision.explanation) or "(no explanation given)"
    if kind is MRKind.ROLLBACK:
        why = f"Rollback of decision {md.code(decision.id, cell=False)}, which said: {why}"
    ranking = md.table(
        ["Rank", "Placement", "Score", "$/month"],
        [
            [
                str(p.rank),
                md.code(p.placement.key) + (" (current)" if p.is_current else ""),
                f"{p.total:.3f}",
                f"{p.monthly_cost_usd:,.2f}",
            ]
            for p in decision.ranking[:5]
        ],
        align=["right", "left", "right", "right"],
    )
    return "\n".join(
        [
            "## SWEN placement change",
            "",
            *summary,
            "",
            "### Monthly cost",
            "",
            *cost_table_lines(rows),
            *cost_note,
            "",
            "### Why",
            "",
            why,
            "",
            "### Expected route",
            "",
            *_route_lines(decision, kind, delta),
            "",
            "### Ranking",
            "",
            *ranking,
            "",
        ]
    )


def _kind_note(decision: Decision) -> str:
    """`` (emergency)`` / `` (SLO repair)``: why the engine moves the service, if not for its price."""
    if decision.emergency:
        return " (emergency)"
    return " (SLO repair)" if decision.slo_repair else ""
