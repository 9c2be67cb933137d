"""The backtest report as plain data (JSON) and as rich tables.

``summary(result)`` is the JSON document (``swen backtest --json``); it holds no wall-clock timings,
so the same scenario, seed and settings always give the same document.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from rich.console import Console, Group
from rich.table import Table

from swen.backtest.accounting import Outcome
from swen.backtest.runner import BacktestResult, captured, detection_steps
from swen.telemetry.scenarios import Scenario, ScenarioKind

STRATEGIES = ("static", "platform", "oracle", "scheduled")
STRATEGY_COLUMNS = (
    "strategy",
    "total cost",
    "credits used",
    "migration cost",
    "savings vs static",
    "migrations",
    "SLO-violation min",
    "beyond detection",
    "outage min",
)
"""The columns of the strategies table (rich and HTML alike): one row per strategy, ``strategy_row``."""
MEASURE_COLUMNS = (
    "captured savings",
    "vs scheduled",
    "SLO min beyond detection p/o",
    "SLO gap",
    "MRs opened",
    "MRs / service-month",
    "withdrawn",
    "sent to a person",
    "auto share",
)
"""The columns of the measure table (rich and HTML alike): ``measure_row``."""
SLO_PARITY_PCT = 1.0
"""Captured savings is comparable with the oracle's only when the platform's SLO minutes beyond
detection exceed the oracle's by at most this share (%) of the fleet's service-minutes."""
CAVEAT = (
    "Captured savings only means something when SLO minutes are close to the oracle's: a platform "
    "that saves money by breaking SLOs would score well on savings alone. Read it next to the SLO gap "
    f"(platform minus oracle SLO minutes beyond detection, as a share of service-minutes; comparable "
    f"when at most {SLO_PARITY_PCT:g} %)."
)
DAYS_PER_MONTH = 30.0
"""MRs per service-month count 30-day months."""

_UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def human_duration(seconds: float) -> str:
    """``1209600`` -> ``14 d``, ``12000`` -> ``3 h 20 min``: the largest unit and the next one when it
    is not zero, rounded to that next unit (``90061`` -> ``1 d 1 h``, ``86399`` -> ``1 d``)."""
    if seconds < 60:
        return f"{seconds:g} s"
    for (name, size), (small_name, small) in pairwise(_UNITS):
        if seconds >= size:
            whole, rest = divmod(round(seconds / small), size // small)
            return f"{whole} {name}" + (f" {rest} {small_name}" if rest else "")
        if round(seconds / small) * small >= size:  # just under one of this unit: rounds up to it
            return f"1 {name}"
    raise AssertionError("unreachable: 60 s or more is at least a minute")  # pragma: no cover


def _percent(change: float) -> str:
    return f"{abs(change) * 100:.3g} %"


def event_name(scenario: Scenario) -> str:
    """What happened, in words: a cost "spike" below 1x is a price cut."""
    m = scenario.strength
    match scenario.kind:
        case ScenarioKind.OUTAGE:
            return "outage" if m >= 1 else f"partial outage (severity {m:g})"
        case ScenarioKind.LATENCY_SPIKE:
            return f"latency x{m:g}"
        case ScenarioKind.COST_SPIKE:
            if m < 1:
                return f"price cut -{_percent(1 - m)}"
            return f"price rise +{_percent(m - 1)}" if m > 1 else "price unchanged"
        case ScenarioKind.CREDIT_EXPIRY:
            return "credits expire"
        case ScenarioKind.GPU_STOCKOUT:
            return "GPU stock-out"
    raise AssertionError(f"unknown scenario kind {scenario.kind}")  # pragma: no cover


def describe_event(scenario: Scenario) -> str:
    """One line of the report's event list, e.g. ``Alibaba cuts prices by 25 %: price cut -25 % on
    alibaba, from 4 d for 14 d``."""
    where = scenario.provider + (f"/{scenario.region}" if scenario.region else "")
    who = f" for {scenario.service}" if scenario.service else ""
    when = f"from {human_duration(scenario.start_offset_s)}"
    how_long = (
        "" if scenario.kind is ScenarioKind.CREDIT_EXPIRY else f" for {human_duration(scenario.duration_s)}"
    )
    line = f"{event_name(scenario)} on {where}{who}, {when}{how_long}"
    return f"{scenario.name}: {line}" if scenario.name else line


def _r(value: float, digits: int = 2) -> float:
    return round(float(value), digits)


def strategy_summary(outcome: Outcome, static_usd: float) -> dict[str, Any]:
    total = outcome.total_usd
    return {
        "total_cost_usd": _r(total),
        "running_cost_usd": _r(outcome.running_usd.sum()),
        "credits_used_usd": _r(outcome.credit_usd.sum()),
        "migration_cost_usd": _r(outcome.migration_usd.sum()),
        "migration_downtime_minutes": _r(outcome.downtime_minutes.sum(), 1),
        "savings_vs_static_usd": _r(static_usd - total),
        "savings_vs_static_pct": _r((static_usd - total) / static_usd * 100.0, 3) if static_usd > 0 else None,
        "migrations": int(outcome.migrations.sum()),
        "slo_violation_minutes": _r(outcome.slo_minutes.sum(), 1),
        "slo_violation_minutes_beyond_detection": _r(outcome.slo_minutes_beyond_detection.sum(), 1),
        "outage_minutes": _r(outcome.outage_minutes.sum(), 1),
    }


def summary(result: BacktestResult) -> dict[str, Any]:
    config, params, trace, lifecycle = result.config, result.params, result.trace, result.lifecycle
    static_usd = result.static.total_usd
    outcomes = {
        "static": result.static,
        "platform": result.platform,
        "oracle": result.oracle,
        "scheduled": result.scheduled,
    }
    policy = result.policy
    cap = result.captured_savings
    return {
        "scenario": {
            "name": config.spec.name,
            "description": config.spec.description,
            "source": config.spec.source,
            "days": config.days,
            "seed": config.seed,
            "services": len(trace.services),
            "step_minutes": trace.step_s / 60.0,
            "steps": trace.steps,
            "start": trace.start.isoformat(),
            "scenarios": [describe_event(s) for s in config.spec.scenarios],
        },
        "settings": {
            "weights": params.weights.model_dump(),
            "min_confidence": params.min_confidence,
            "min_savings_usd": params.min_savings_usd,
            "cooldown_s": params.cooldown_s,
            "review_cost_usd": params.review_cost_usd,
            "auto_propose_confidence": params.auto_propose_confidence,
            "auto_min_evidence": params.auto_min_evidence,
            "max_repair_cost_pct": params.max_repair_cost_pct,
            "slo_holddown_s": params.slo_holddown_s,
            "stability_window": params.stability_window,
            "availability_floor": params.availability_floor,
            "gpu_availability_floor": params.gpu_availability_floor,
            "pipeline_delay_steps": lifecycle.pipeline_delay_steps,
            "human_delay_h": lifecycle.human_delay_h,
            "manual_review": lifecycle.manual,
            "detection_steps": detection_steps(params, lifecycle),
            "amortisation_months": _r(params.amortisation_months, 4),
            "migration_cost": config.spec.migration.model_dump(mode="json"),
        },
        "strategies": {name: strategy_summary(o, static_usd) for name, o in outcomes.items()},
        "captured_savings": None if cap is None else _r(cap, 4),
        "captured_savings_vs_scheduled": None
        if result.captured_vs_scheduled is None
        else _r(result.captured_vs_scheduled, 4),
        "measure": measure(result),
        "outage_minutes_avoided_share": None
        if result.outage_avoided is None
        else _r(result.outage_avoided, 4),
        "policy": {
            "recommendations": policy.recommendations,
            "emergencies": policy.emergencies,
            "auto_approve": policy.auto_approve,
            "manual_review": policy.manual_review,
            "deny": policy.deny,
            "auto_share": None if policy.auto_share is None else _r(policy.auto_share, 4),
            "slo_repairs": policy.slo_repairs,
            "slo_repairs_auto": policy.slo_repairs_auto,
            "auto_share_without_repairs": None
            if policy.auto_share_without_repairs is None
            else _r(policy.auto_share_without_repairs, 4),
            "emergency_overrides": policy.overrides,
            "applied": policy.applied,
            "rejected_by_person": policy.rejected_by_person,
            "failed_no_gpu_capacity": policy.failed_no_capacity,
            "superseded": policy.superseded,
            "refreshed": policy.refreshed,
            "withdrawn": policy.withdrawn,
            "held_services": len(policy.held_services),
            "held_service_days": _r(policy.held_steps * trace.step_s / 86400.0, 2),
            "engine_errors": policy.engine_errors,
            "review_reasons": dict(sorted(policy.reasons.items())),
        },
        "calibration": result.calibration,
        "services": [_service_row(result, s) for s in range(len(trace.services))],
    }


def measure(result: BacktestResult) -> dict[str, Any]:
    """Captured savings next to what it costs elsewhere: SLO-minute parity with the oracle, merge
    requests per service-month, withdrawals, reviews asked of a person and the auto-approved share."""
    trace, policy = result.trace, result.policy
    service_minutes = len(trace.services) * trace.steps * trace.step_s / 60.0
    platform = float(result.platform.slo_minutes_beyond_detection.sum())
    oracle = float(result.oracle.slo_minutes_beyond_detection.sum())
    scheduled = float(result.scheduled.slo_minutes_beyond_detection.sum())
    gap_pct = (platform - oracle) / service_minutes * 100.0 if service_minutes else 0.0
    opened = policy.auto_approve + policy.manual_review
    service_months = len(trace.services) * trace.steps * trace.step_s / 86400.0 / DAYS_PER_MONTH
    cap = result.captured_savings
    return {
        "captured_savings": None if cap is None else _r(cap, 4),
        "slo_minutes_beyond_detection": {
            "platform": _r(platform, 1),
            "oracle": _r(oracle, 1),
            "scheduled": _r(scheduled, 1),
        },
        "slo_gap_pct_of_service_minutes": _r(gap_pct, 4),
        "slo_comparable": gap_pct <= SLO_PARITY_PCT,
        "mrs_opened": opened,
        "mrs_per_service_month": _r(opened / service_months, 4) if service_months else None,
        "moves_applied": policy.applied,
        "withdrawn": policy.withdrawn,
        "sent_to_person": policy.manual_review,
        "auto_share": None if policy.auto_share is None else _r(policy.auto_share, 4),
        "caveat": CAVEAT,
    }


def measure_row(doc: dict[str, Any]) -> list[str]:
    """The cells of the measure table under ``MEASURE_COLUMNS``."""
    m = doc["measure"]
    slo = m["slo_minutes_beyond_detection"]
    gap = f"{m['slo_gap_pct_of_service_minutes']:+.3f} %"
    gap += "" if m["slo_comparable"] else " (not comparable)"
    per = m["mrs_per_service_month"]
    return [
        _pct(m["captured_savings"]),
        _pct(doc["captured_savings_vs_scheduled"]),
        f"{slo['platform']:g}/{slo['oracle']:g}",
        gap,
        str(m["mrs_opened"]),
        "n/a" if per is None else f"{per:.2f}",
        str(m["withdrawn"]),
        str(m["sent_to_person"]),
        _pct(m["auto_share"]),
    ]


def _service_row(result: BacktestResult, s: int) -> dict[str, Any]:
    trace, grid = result.trace, result.grid
    row: dict[str, Any] = {"service": trace.services[s].name, "start": trace.services[s].fleet_placement.key}
    for name, outcome in (
        ("static", result.static),
        ("platform", result.platform),
        ("oracle", result.oracle),
        ("scheduled", result.scheduled),
    ):
        row[name] = {
            "cost_usd": _r(outcome.cost_usd[s]),
            "migrations": int(outcome.migrations[s]),
            "slo_violation_minutes": _r(outcome.slo_minutes[s], 1),
            "outage_minutes": _r(outcome.outage_minutes[s], 1),
            "final": grid.placement(trace, s, int(outcome.path[-1, s])).key,
        }
    cap = captured(result.static.cost_usd[s], result.platform.cost_usd[s], result.oracle.cost_usd[s])
    row["captured_savings"] = None if cap is None else _r(cap, 4)
    row["auto_approved"] = int(result.policy.auto_per_service[s])
    row["manual_review"] = int(result.policy.manual_per_service[s])
    return row


# --- rich --------------------------------------------------------------------------------------------
def _usd(value: float) -> str:
    return f"${value:,.2f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def strategy_row(name: str, strategy: dict[str, Any], *, savings: str) -> list[str]:
    """The cells of one strategy under ``STRATEGY_COLUMNS``; ``savings`` is its savings cell."""
    return [
        name,
        _usd(strategy["total_cost_usd"]),
        _usd(strategy["credits_used_usd"]),
        _usd(strategy["migration_cost_usd"]),
        savings,
        str(strategy["migrations"]),
        f"{strategy['slo_violation_minutes']:g}",
        f"{strategy['slo_violation_minutes_beyond_detection']:g}",
        f"{strategy['outage_minutes']:g}",
    ]


def _table(title: str, columns: tuple[str, ...], *, left: tuple[str, ...] = ()) -> Table:
    """A table titled ``title`` with ``columns``, justified right except those in ``left``."""
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, justify="left" if col in left else "right")
    return table


def render(doc: dict[str, Any], *, max_services: int = 25) -> Group:
    """Rich renderables for a summary document: the three strategies, the gate, and per service."""
    scen = doc["scenario"]
    head = _table(
        f"Backtest {scen['name']}: {scen['services']} services, {scen['days']:g} days at "
        f"{scen['step_minutes']:g}-minute steps, seed {scen['seed']}",
        STRATEGY_COLUMNS,
        left=("strategy",),
    )
    for name in STRATEGIES:
        st = doc["strategies"][name]
        pct = st["savings_vs_static_pct"]
        savings = _usd(st["savings_vs_static_usd"])
        head.add_row(*strategy_row(name, st, savings=savings if pct is None else f"{savings} ({pct:.2f} %)"))
    measured = _table("Measure (platform)", MEASURE_COLUMNS)
    measured.add_row(*measure_row(doc))
    measured.caption = doc["measure"]["caveat"]
    policy = doc["policy"]
    gate = _table(
        "Policy gate and lifecycle (platform)",
        (
            "captured savings",
            "outage avoided",
            "recommendations",
            "emergencies",
            "auto-approved",
            "manual review",
            "denied",
            "auto share",
            "applied",
            "failed (no GPU)",
        ),
    )
    gate.add_row(
        _pct(doc["captured_savings"]),
        _pct(doc["outage_minutes_avoided_share"]),
        str(policy["recommendations"]),
        str(policy["emergencies"]),
        str(policy["auto_approve"]),
        str(policy["manual_review"]),
        str(policy["deny"]),
        _pct(policy["auto_share"]),
        str(policy["applied"]),
        str(policy["failed_no_gpu_capacity"]),
    )
    gate.caption = (
        f"manual reviews: {doc['settings']['manual_review']}; refreshed {policy['refreshed']}, "
        f"withdrawn {policy['withdrawn']}, superseded {policy['superseded']}, "
        f"rejected by a person {policy['rejected_by_person']}; held for the value of waiting: "
        f"{policy.get('held_services', 0)} services, {policy.get('held_service_days', 0):g} service-days"
    )
    cal = doc.get("calibration")
    if cal:
        ece = cal["expected_calibration_error"]
        pos = cal["auto_approved_positive_share"]
        gate.caption += (
            f"; confidence {'calibrated' if cal['calibrated'] else 'not calibrated'}, expected calibration "
            f"error {'n/a' if ece is None else f'{ece:.3f}'} over {cal['labelled']} gate decisions"
            f"{_floor_text(cal.get('ece_noise_floor'), cal.get('ece_p_value'))}, auto-approved net positive "
            f"in hindsight {_pct(pos)}"
            f"{_expected_text(cal.get('auto_approved_if_calibrated'))}"
        )
    per = _table(
        "Per service",
        (
            "service",
            "static",
            "platform",
            "oracle",
            "captured",
            "moves p/o",
            "SLO min p/o",
            "outage min p/o",
            "auto/manual",
            "final platform",
            "final oracle",
        ),
        left=("service", "final platform", "final oracle"),
    )
    rows = sorted(
        doc["services"], key=lambda r: r["static"]["cost_usd"] - r["oracle"]["cost_usd"], reverse=True
    )
    for row in rows[:max_services]:
        p, o = row["platform"], row["oracle"]
        per.add_row(
            row["service"],
            _usd(row["static"]["cost_usd"]),
            _usd(p["cost_usd"]),
            _usd(o["cost_usd"]),
            _pct(row["captured_savings"]),
            f"{p['migrations']}/{o['migrations']}",
            f"{p['slo_violation_minutes']:g}/{o['slo_violation_minutes']:g}",
            f"{p['outage_minutes']:g}/{o['outage_minutes']:g}",
            f"{row['auto_approved']}/{row['manual_review']}",
            p["final"],
            o["final"],
        )
    if len(rows) > max_services:
        per.caption = f"{max_services} of {len(rows)} services (largest oracle savings first); --json has all"
    return Group(head, measured, gate, per)


def print_report(doc: dict[str, Any], console: Console | None = None) -> None:
    (console or Console()).print(render(doc))


def _expected_text(expect: dict[str, float] | None) -> str:
    """`` (a calibrated confidence expects 90 %, 80 % interval 82-100 %; >= 95 % in 18 % of replays)``:
    the sampling noise of the auto-approved net-positive share (``calibration.net_positive_expectation``)."""
    if not expect:
        return ""

    def pct(key: str) -> str:
        return f"{expect[key] * 100:.0f} %"

    return (
        f" (a calibrated confidence expects {pct('expected_share')}, 80 % interval {pct('p10')}-"
        f"{pct('p90')}; >= {pct('goal')} in {pct('p_meets_goal')} of replays)"
    )


def _floor_text(floor: dict[str, float] | None, p: float | None = None) -> str:
    """`` (a calibrated confidence would show 0.051, 90 % under 0.082; p 0.31)``: the ECE's sampling
    noise and the share of a calibrated confidence's draws at or above it."""
    if not floor:
        return ""
    p_text = "" if p is None else f"; p {p:.3f}"
    return f" (a calibrated confidence would show {floor['mean']:.3f}, 90 % under {floor['p90']:.3f}{p_text})"
