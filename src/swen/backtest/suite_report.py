"""A suite's report as rich tables; the cells are shared with the HTML report (``html.suite_html``).

Four tables: per scenario its measure, and its calibration (the ECE with its noise floor and p-value,
the verdict, the share of auto-approved moves net positive); the pooled calibration's figures, and
the pooled reliability diagram (10 bins).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table

SUITE_COLUMNS = (
    "scenario",
    "captured",
    "vs scheduled",
    "SLO gap",
    "MRs",
    "MRs / svc-month",
    "applied",
    "auto share",
)
"""The per-scenario measure table's columns (rich and HTML alike): ``measure_cells``."""
CALIBRATION_COLUMNS = (
    "scenario",
    "decisions",
    "ECE",
    "calibrated shows",
    "p",
    "verdict",
    "auto net positive",
)
"""The per-scenario calibration table's columns: ``calibration_cells``."""
POOLED_COLUMNS = ("figure", "value")
RELIABILITY_COLUMNS = ("confidence bin", "decisions", "mean confidence", "net positive", "gap")
CALIBRATION_CAPTION = (
    "ECE: expected calibration error of the confidence (10 equal-width bins); calibrated shows: the "
    "ECE a perfectly calibrated confidence shows on as many decisions (mean, 90th percentile); p: the "
    "share of those at or above the ECE"
)


def _share(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _floor(floor: dict[str, float] | None) -> str:
    return "n/a" if not floor else f"{floor['mean']:.3f} (90 % < {floor['p90']:.3f})"


def _interval(interval: dict[str, float] | None) -> str:
    return "n/a" if not interval else f"{interval['p05']:.3f}-{interval['p95']:.3f}"


def measure_cells(row: dict[str, Any]) -> list[str]:
    """One scenario's cells under ``SUITE_COLUMNS`` (``suite.suite_row``)."""
    gap = f"{row['slo_gap_pct_of_service_minutes']:+.3f} %"
    return [
        row["scenario"],
        _share(row["captured_savings"]),
        _share(row["captured_savings_vs_scheduled"]),
        gap + ("" if row["slo_comparable"] else " (not comparable)"),
        str(row["mrs_opened"]),
        _share(row["mrs_per_service_month"]),
        str(row["moves_applied"]),
        _share(row["auto_share"]),
    ]


def calibration_cells(row: dict[str, Any]) -> list[str]:
    """One scenario's cells under ``CALIBRATION_COLUMNS``."""
    return [
        row["scenario"],
        str(row["labelled"]),
        _share(row["expected_calibration_error"], 3),
        _floor(row["ece_noise_floor"]),
        _share(row["ece_p_value"], 3),
        row["verdict"],
        _share(row["auto_approved_positive_share"], 3),
    ]


def pooled_cells(pooled: dict[str, Any]) -> list[list[str]]:
    """The pooled calibration as (figure, value) rows (``suite.pooled_calibration``)."""
    sweep = pooled["ece_equal_mass_sweep"]
    held = "yes" if pooled["held_out"] else "no: some scenario was scored with a fold fitted on it"
    return [
        ["gate decisions (labelled)", f"{pooled['labelled']} ({pooled['scenarios']} scenarios)"],
        ["scored out of sample", held if pooled["calibrated"] else "no calibration table"],
        ["expected calibration error (10 equal-width bins)", _share(pooled["expected_calibration_error"], 4)],
        ["a calibrated confidence would show", _floor(pooled["ece_noise_floor"])],
        ["ECE, 5-95 % over resampled scenarios", _interval(pooled["ece_scenario_interval"])],
        ["p (share of those at or above the ECE)", _share(pooled["ece_p_value"], 3)],
        ["verdict", pooled["verdict"]],
        [
            "ECE over equal-mass bins (monotone sweep)",
            "n/a" if sweep is None else f"{sweep:.4f} ({pooled['ece_equal_mass_bins']} bins)",
        ],
        ["l2 calibration error, debiased", _share(pooled["l2_calibration_error_debiased"], 4)],
        ["mean confidence", _share(pooled["mean_confidence"], 3)],
        ["net positive in hindsight", _share(pooled["positive_share"], 3)],
        [
            "auto-approved net positive",
            f"{_share(pooled['auto_approved_positive_share'], 3)} of {pooled['auto_approved_labelled']}",
        ],
    ]


def reliability_cells(pooled: dict[str, Any]) -> list[list[str]]:
    """One row per non-empty bin of the pooled reliability diagram, under ``RELIABILITY_COLUMNS``."""
    return [
        [
            f"{b['low']:.1f}-{b['high']:.1f}",
            str(b["count"]),
            f"{b['confidence']:.3f}",
            f"{b['positive_share']:.3f}",
            f"{b['positive_share'] - b['confidence']:+.3f}",
        ]
        for b in pooled["reliability"]
    ]


def _table(title: str, columns: tuple[str, ...], rows: list[list[str]], left: tuple[str, ...]) -> Table:
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, justify="left" if col in left else "right")
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    return table


def render_suite(doc: dict[str, Any]) -> Group:
    rows = doc["rows"]
    sizes = sorted({(r["services"], r["days"]) for r in rows})
    what = "; ".join(f"{s} services, {d:g} days" for s, d in sizes)
    measured = _table(
        f"Backtest suite: {len(rows)} scenarios ({what})",
        SUITE_COLUMNS,
        [measure_cells(r) for r in rows],
        left=("scenario",),
    )
    calibrated = _table(
        "Calibration of confidence per scenario (gate decisions)",
        CALIBRATION_COLUMNS,
        [calibration_cells(r) for r in rows],
        left=("scenario", "verdict"),
    )
    calibrated.caption = CALIBRATION_CAPTION
    pooled = doc["pooled_calibration"]
    summary = _table("Pooled calibration", POOLED_COLUMNS, pooled_cells(pooled), ("figure", "value"))
    summary.caption = pooled["reading"]
    diagram = _table(
        "Pooled reliability diagram", RELIABILITY_COLUMNS, reliability_cells(pooled), ("confidence bin",)
    )
    diagram.caption = f"label: {pooled['label']}"
    return Group(measured, calibrated, summary, diagram)


def print_suite(doc: dict[str, Any], console: Console | None = None) -> None:
    (console or Console()).print(render_suite(doc))
