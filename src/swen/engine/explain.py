"""Human explanations of decisions, built from the numbers the decision carries.

MIGRATE, e.g.::

    Move service-2 from aws/us-east-1 to alibaba/ap-southeast-1 (simulated price): 31 % cheaper
    (-$412/month), p95 latency +4 ms (SLO 120 ms), confidence 0.88 (margin 0.21, same winner 9 of
    last 10 cycles). Net saving $398/month after credits and $90 one-time migration.

STAY says why not, e.g. ``Stay on aws/us-east-1: best alternative alibaba/ap-southeast-1 saves
$31/month, below the $50 threshold``.
"""

from __future__ import annotations

from collections.abc import Sequence

from swen.domain.decision import Confidence, Savings
from swen.domain.models import Placement


def usd(amount: float) -> str:
    """``$1,234`` (whole dollars, no sign)."""
    return f"${abs(amount):,.0f}"


def signed_usd(amount: float) -> str:
    """``-$412`` / ``+$40`` (whole dollars, ``$0`` without a sign)."""
    text = usd(amount)
    if text == "$0":
        return text
    return ("-" if amount < 0 else "+") + text


def number(value: float, threshold: float | None = None) -> str:
    """Two decimals, or four when two would make the value look equal to ``threshold``."""
    text = f"{value:.2f}"
    if threshold is not None and value != threshold and text == f"{threshold:.2f}":
        return f"{value:.4f}"
    return text


def place(placement: Placement, simulated: bool = False) -> str:
    return f"{placement.key} (simulated price)" if simulated else placement.key


def cost_phrase(savings: Savings) -> str:
    delta = savings.target_monthly_usd - savings.current_monthly_usd
    pct = abs(savings.cost_delta_pct)
    if round(pct) == 0 and usd(delta) == "$0":
        return "same price ($0/month)"
    word = "cheaper" if delta < 0 else "more expensive"
    return f"{pct:.0f} % {word} ({signed_usd(delta)}/month)"


def latency_phrase(target_ms: float, current_ms: float | None, slo_ms: float) -> str:
    """``p95 latency +4 ms (SLO 120 ms)``; the absolute p95 when the current one is unknown."""
    if current_ms is None:
        return f"p95 latency {target_ms:.0f} ms (SLO {slo_ms:.0f} ms)"
    delta = target_ms - current_ms
    sign = "-" if round(delta) < 0 else "+"
    return f"p95 latency {sign}{abs(delta):.0f} ms (SLO {slo_ms:.0f} ms)"


def confidence_phrase(confidence: Confidence) -> str:
    return (
        f"confidence {confidence.value:.2f} (margin {confidence.margin:.2f}, "
        f"same winner {confidence.stability_cycles} of last {confidence.stability_window} cycles)"
    )


def confidence_shortfall(confidence: Confidence, threshold: float) -> str:
    """``confidence 0.55 is not above 0.70 (margin 0.12, same winner 4 of last 10 cycles)``."""
    return (
        f"confidence {number(confidence.value, threshold)} is not above {threshold:.2f} "
        f"(margin {confidence.margin:.2f}, same winner {confidence.stability_cycles} of last "
        f"{confidence.stability_window} cycles)"
    )


def net_phrase(savings: Savings) -> str:
    verb = "saving" if savings.net_monthly_usd >= 0 else "cost"
    return (
        f"Net {verb} {usd(savings.net_monthly_usd)}/month after credits and "
        f"{usd(savings.migration_cost_usd)} one-time migration."
    )


def explain_move(
    *,
    service: str,
    current: Placement,
    target: Placement,
    savings: Savings,
    target_p95_ms: float,
    current_p95_ms: float | None,
    slo_ms: float,
    confidence: Confidence,
    simulated_target: bool,
    emergency_why: str | None = None,
) -> str:
    head = (
        f"Emergency: move {service} off {current.key} ({emergency_why}) to {place(target, simulated_target)}"
        if emergency_why
        else f"Move {service} from {current.key} to {place(target, simulated_target)}"
    )
    return (
        f"{head}: {cost_phrase(savings)}, {latency_phrase(target_p95_ms, current_p95_ms, slo_ms)}, "
        f"{confidence_phrase(confidence)}. {net_phrase(savings)}"
    )


def alternative_phrase(target: Placement, savings: Savings, simulated_target: bool) -> str:
    net = savings.net_monthly_usd
    where = place(target, simulated_target)
    if net >= 0:
        return f"best alternative {where} saves {usd(net)}/month"
    return f"best alternative {where} would cost {usd(net)}/month more"


def explain_stay(current: Placement, why: Sequence[str]) -> str:
    return f"Stay on {current.key}: " + "; ".join(why)
