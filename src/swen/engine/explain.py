"""Human explanations of decisions, built from the numbers the decision carries.

MIGRATE, e.g.::

    Move service-2 from aws/us-east-1 to alibaba/ap-southeast-1 (simulated price): 31 % cheaper
    (-$412/month), p95 latency +4 ms (SLO 120 ms), advantage expected to last ~9 days (80 % interval
    4-15 days; it has led for 6 h); confidence 0.91: 91 % of comparable moves in replay paid back (margin
    0.21, same winner 9 of last 10 cycles). Net saving $398/month after credits and $90 one-time
    migration; $1,090 net over the expected 9 days.

An SLO repair (the current placement breaks the service's latency SLO, the target meets it), e.g.::

    Move inference-a10g-003 off aws/us-east-1: p95 180 ms breaks its SLO 120 ms (10 of the last 10
    samples over it); aws/ap-south-1 meets it (p95 80 ms) for +$278/month (+20 %); a person reviews it
    because it costs more. SLO repair: confidence 1.00 (fresh data 1.00, GPU capacity at the target
    1.00); $12 one-time migration.

STAY says why not, e.g. ``Stay on aws/us-east-1: best alternative alibaba/ap-southeast-1 saves
$31/month, below the $50 threshold``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from swen.domain.decision import Confidence, Forecast, Savings
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


def days(value: float) -> str:
    """``9`` / ``1.5`` / ``30+`` (a number of days, rounded for reading)."""
    if value >= 30:
        return "30+"
    return f"{value:.0f}" if value >= 2 else f"{value:.1f}"


def span(value_days: float) -> str:
    """``9 days`` / ``1.5 days`` / ``5 h`` (under a day in hours, at least 1 h)."""
    if value_days >= 1:
        return f"{days(value_days)} days"
    return f"{max(1.0, value_days * 24):.0f} h"


def age(hours: float) -> str:
    return (
        f"{hours / 24:.1f} days"
        if hours >= 48
        else f"{hours:.0f} h"
        if hours >= 1
        else f"{hours * 60:.0f} min"
    )


def forecast_phrase(forecast: Forecast) -> str:
    """``advantage expected to last ~9 days (80 % interval 4-15 days; it has led for 6 h)``."""
    if forecast.days_low >= 1:
        interval = f"{days(forecast.days_low)}-{days(forecast.days_high)} days"
    else:
        interval = f"{span(forecast.days_low)} to {span(forecast.days_high)}"
    return (
        f"advantage expected to last ~{span(forecast.days)} (80 % interval {interval}; "
        f"it has led for {age(forecast.advantage_age_h)})"
    )


def per_day_usd(amount: float) -> str:
    """``$3.50`` (cents under $100 a day, whole dollars above)."""
    return f"${abs(amount):,.2f}" if abs(amount) < 100 else usd(amount)


def held_reason(confidence: float, auto_confidence: float, review_cost_usd: float, per_day: float) -> str:
    """``held: confidence 0.78 not above 0.85 for auto-approval; a review costs ~$100, waiting loses
    ~$3.50/day`` (``route.judge_routes``: the value of waiting)."""
    return (
        f"held: confidence {number(confidence, auto_confidence)} not above {auto_confidence:.2f} for "
        f"auto-approval; a review costs ~{usd(review_cost_usd)}, waiting loses ~{per_day_usd(per_day)}/day"
    )


def evidence_held_reason(
    *,
    confidence: float,
    auto_confidence: float,
    propose_bar: float,
    evidence: float,
    min_evidence: float,
    per_day: float,
) -> str:
    """Why a move the gate would auto-approve is not proposed yet (``route.judge_routes``): ``held for
    stronger evidence: the advantage stands 4.2 standard errors clear of price noise, the engine waits
    for 5.0 before proposing a move the gate would auto-approve; waiting loses ~$6.60/day``, or, short
    of the engine's confidence bar, ``... confidence 0.86 clears the gate's 0.85 but not the 0.92 the
    engine waits for ...``."""
    if confidence > propose_bar:
        why = (
            f"the advantage stands {evidence:.1f} standard errors clear of price noise, the engine waits "
            f"for {min_evidence:.1f}"
        )
    else:
        why = (
            f"confidence {number(confidence, propose_bar)} clears the gate's {auto_confidence:.2f} but "
            f"not the {propose_bar:.2f} the engine waits for"
        )
    return (
        f"held for stronger evidence: {why} before proposing a move the gate would auto-approve; "
        f"waiting loses ~{per_day_usd(per_day)}/day"
    )


def held_phrase(reason: str, at_stake: float, days_mid: float) -> str:
    """:func:`held_reason` with what holding loses over the advantage's expected remaining days."""
    return f"{reason} (~{usd(at_stake)} over the {span(days_mid)} the advantage is expected to last)"


def confidence_phrase(confidence: Confidence) -> str:
    """``confidence 0.91: 91 % of comparable moves in replay paid back (margin 0.21, same winner 9 of
    last 10 cycles)``; ``confidence 0.91 (uncalibrated; margin ...)`` without a calibration table."""
    parts = (
        f"margin {confidence.margin:.2f}, same winner {confidence.stability_cycles} of last "
        f"{confidence.stability_window} cycles"
    )
    if confidence.calibrated:
        return (
            f"confidence {confidence.value:.2f}: {confidence.value * 100:.0f} % of comparable moves in "
            f"replay paid back ({parts})"
        )
    return f"confidence {confidence.value:.2f} (uncalibrated; {parts})"


def confidence_shortfall(confidence: Confidence, threshold: float) -> str:
    """``confidence 0.55 is not above 0.70 (margin 0.12, same winner 4 of last 10 cycles)``."""
    return (
        f"confidence {number(confidence.value, threshold)} is not above {threshold:.2f} "
        f"(margin {confidence.margin:.2f}, same winner {confidence.stability_cycles} of last "
        f"{confidence.stability_window} cycles)"
    )


def net_phrase(savings: Savings, forecast: Forecast | None = None) -> str:
    verb = "saving" if savings.net_monthly_usd >= 0 else "cost"
    text = (
        f"Net {verb} {usd(savings.net_monthly_usd)}/month after credits and "
        f"{usd(savings.migration_cost_usd)} one-time migration"
    )
    if forecast is not None:
        word = "net" if forecast.horizon_net_usd >= 0 else "net loss"
        text += f"; {usd(forecast.horizon_net_usd)} {word} over the expected {span(forecast.days)}"
    return text + "."


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
    forecast: Forecast | None = None,
) -> str:
    head = (
        f"Emergency: move {service} off {current.key} ({emergency_why}) to {place(target, simulated_target)}"
        if emergency_why
        else f"Move {service} from {current.key} to {place(target, simulated_target)}"
    )
    outlook = "" if forecast is None else f"{forecast_phrase(forecast)}; "
    return (
        f"{head}: {cost_phrase(savings)}, {latency_phrase(target_p95_ms, current_p95_ms, slo_ms)}, "
        f"{outlook}{confidence_phrase(confidence)}. {net_phrase(savings, forecast)}"
    )


@dataclass(frozen=True)
class Breach:
    """The current placement's breach of the latency SLO, as an explanation states it."""

    p95_ms: float
    slo_ms: float
    over: int
    """Samples of the window over the SLO."""
    window: int
    """Samples the window holds."""


def breach_phrase(breach: Breach) -> str:
    """``p95 180 ms breaks its SLO 120 ms (9 of the last 10 samples over it)``."""
    return (
        f"p95 {breach.p95_ms:.0f} ms breaks its SLO {breach.slo_ms:.0f} ms "
        f"({breach.over} of the last {breach.window} samples over it)"
    )


def repair_reason(breach: Breach) -> str:
    """The reason code of an SLO repair: ``slo_repair: p95 180 ms above the SLO 120 ms in 9 of the last
    10 samples``."""
    return (
        f"slo_repair: p95 {breach.p95_ms:.0f} ms above the SLO {breach.slo_ms:.0f} ms in {breach.over} "
        f"of the last {breach.window} samples"
    )


def repair_target_phrase(target: Placement, target_p95_ms: float, simulated_target: bool) -> str:
    """``aws/ap-south-1 meets it (p95 80 ms)``."""
    return f"{place(target, simulated_target)} meets it (p95 {target_p95_ms:.0f} ms)"


def repair_price_phrase(savings: Savings) -> str:
    """What the repair does to the bill: ``for +$278/month (+20 %)``, ``and saves $40/month (-8 %)``,
    ``at the same price``."""
    delta = savings.target_monthly_usd - savings.current_monthly_usd
    if usd(delta) == "$0":
        return "at the same price"
    pct = f"{savings.cost_delta_pct:+.0f} %"
    if delta > 0:
        return f"for {signed_usd(delta)}/month ({pct})"
    return f"and saves {usd(delta)}/month ({pct})"


def over_cap_phrase(cap_pct: float) -> str:
    """``that is over the 150 % cap on a repair's extra cost (max_repair_cost_pct); a person can choose
    a placement with swen place``."""
    return (
        f"that is over the {cap_pct:.0f} % cap on a repair's extra cost (max_repair_cost_pct); a person "
        "can choose a placement with swen place"
    )


def repair_confidence_phrase(confidence: Confidence) -> str:
    """``confidence 1.00 (fresh data 1.00, GPU capacity at the target 0.95)``: the breach is the
    evidence; what is left uncertain is the data and the target's capacity."""
    return f"confidence {confidence.value:.2f} ({repair_uncertainty(confidence)})"


def repair_uncertainty(confidence: Confidence) -> str:
    """``fresh data 1.00, GPU capacity at the target 0.95``: what a repair's confidence is made of."""
    gpu = 1.0 if confidence.gpu_capacity is None else confidence.gpu_capacity
    return f"fresh data {confidence.freshness:.2f}, GPU capacity at the target {gpu:.2f}"


def explain_repair(
    *,
    service: str,
    current: Placement,
    target: Placement,
    savings: Savings,
    breach: Breach,
    target_p95_ms: float,
    simulated_target: bool,
    route: str,
    confidence: Confidence,
) -> str:
    """An SLO repair: the breach, the target that meets the SLO, its price, who approves it."""
    return (
        f"Move {service} off {current.key}: {breach_phrase(breach)}; "
        f"{repair_target_phrase(target, target_p95_ms, simulated_target)} {repair_price_phrase(savings)}; "
        f"{route}. SLO repair: {repair_confidence_phrase(confidence)}; "
        f"{usd(savings.migration_cost_usd)} one-time migration."
    )


def alternative_phrase(target: Placement, savings: Savings, simulated_target: bool) -> str:
    net = savings.net_monthly_usd
    where = place(target, simulated_target)
    if net >= 0:
        return f"best alternative {where} saves {usd(net)}/month"
    return f"best alternative {where} would cost {usd(net)}/month more"


def explain_stay(current: Placement, why: Sequence[str]) -> str:
    return f"Stay on {current.key}: " + "; ".join(why)
