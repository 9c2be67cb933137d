"""The HTML backtest report: summary tables and Plotly charts, self-contained (works offline).

Charts: cumulative cost of static, platform and oracle over time, cumulative savings of platform
and oracle vs static, and placements over time (one heatmap per strategy: services x time, colour =
provider/region). plotly.js is embedded once in the file (``include_plotlyjs=True``, ~4.5 MB),
never loaded from a CDN. Series are sampled hourly.

Colours are colour-blind safe (Okabe-Ito, then Paul Tol's): each strategy's line also has its own
dash and width, so lines that run on top of each other stay apart; each placement has one colour in
every heatmap, and a heatmap's colour bar lists only the placements it shows.

A suite (``swen backtest --scenario all --html``) gets ``suite_html``: the per-scenario table, the
pooled calibration and its reliability diagram.
"""

from __future__ import annotations

import html
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

from swen.backtest.report import MEASURE_COLUMNS, STRATEGY_COLUMNS, measure_row, strategy_row
from swen.backtest.runner import BacktestResult
from swen.backtest.suite_report import (
    CALIBRATION_CAPTION,
    CALIBRATION_COLUMNS,
    POOLED_COLUMNS,
    RELIABILITY_COLUMNS,
    SUITE_COLUMNS,
    calibration_cells,
    measure_cells,
    pooled_cells,
    reliability_cells,
)
from swen.domain.errors import InvalidInputError

MAX_HEATMAP_SERVICES = 60
REPORT_MODE = 0o644
LINES: dict[str, dict[str, Any]] = {
    "static": {"color": "#000000", "dash": "dash", "width": 2},  # Okabe-Ito black
    "platform": {"color": "#0072B2", "dash": "solid", "width": 3},  # Okabe-Ito blue
    "oracle": {"color": "#D55E00", "dash": "dot", "width": 3},  # Okabe-Ito vermillion
}
PLACEMENT_COLOURS = (
    *("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"),  # Okabe-Ito
    *("#332288", "#117733", "#DDCC77", "#882255"),  # Paul Tol's, the furthest from those under CVD
)
"""Enough for every placement of the packaged catalog; more fall back to Plotly's Dark24."""


def _hourly_steps(result: BacktestResult) -> np.ndarray:
    every = max(1, round(3600.0 / result.trace.step_s))
    steps = np.arange(0, result.trace.steps, every)
    if steps[-1] != result.trace.steps - 1:
        steps = np.append(steps, result.trace.steps - 1)
    return steps


def _times(result: BacktestResult, steps: np.ndarray) -> list[datetime]:
    return [result.trace.time_at(int(t) + 1) for t in steps]


def _usd_lines_figure(
    times: list[datetime], lines: dict[str, np.ndarray], *, title: str, height: int
) -> go.Figure:
    """One line of USD over simulated time per strategy (``lines``: strategy name -> values)."""
    fig = go.Figure()
    for name, usd in lines.items():
        fig.add_trace(go.Scatter(x=times, y=np.round(usd, 2), name=name, mode="lines", line=LINES[name]))
    fig.update_layout(
        title=title, xaxis_title="simulated time", yaxis_title="USD", hovermode="x unified", height=height
    )
    return fig


def cumulative_cost_figure(result: BacktestResult) -> go.Figure:
    steps = _hourly_steps(result)
    return _usd_lines_figure(
        _times(result, steps),
        {o.name: o.cumulative_usd[steps] for o in (result.static, result.platform, result.oracle)},
        title="Cumulative cost (running cost + migrations)",
        height=420,
    )


def savings_figure(result: BacktestResult) -> go.Figure:
    """Cumulative savings vs static (the cost chart's lines are close: the gaps are what matters)."""
    steps = _hourly_steps(result)
    base = result.static.cumulative_usd[steps]
    return _usd_lines_figure(
        _times(result, steps),
        {o.name: base - o.cumulative_usd[steps] for o in (result.platform, result.oracle)},
        title="Cumulative savings vs static (negative: paid more than never moving)",
        height=380,
    )


def _placements(result: BacktestResult, strategy: str) -> np.ndarray:
    """Placement index of each shown service (rows) at each hourly step (columns)."""
    outcome = {"static": result.static, "platform": result.platform, "oracle": result.oracle}[strategy]
    n_s = min(len(result.trace.services), MAX_HEATMAP_SERVICES)
    cols = outcome.path[_hourly_steps(result)][:, :n_s]
    pairs = result.grid.cand_pair[np.arange(n_s)[None, :], cols]
    placed: np.ndarray = result.trace.index.pair_placement[pairs].T
    return placed


def placement_colours(result: BacktestResult) -> dict[int, str]:
    """One colour per placement that any strategy uses: the same in every heatmap of the report."""
    used = sorted(set().union(*(np.unique(_placements(result, s)).tolist() for s in LINES)))
    extra = [c for c in qualitative.Dark24 if c.upper() not in PLACEMENT_COLOURS]
    palette = [*PLACEMENT_COLOURS, *extra]
    return {p: palette[i % len(palette)] for i, p in enumerate(used)}


def placements_figure(
    result: BacktestResult, strategy: str, colours: dict[int, str] | None = None
) -> go.Figure:
    trace = result.trace
    keys = [p.key for p in trace.index.placements]
    colours = colours or placement_colours(result)
    place = _placements(result, strategy)
    n_s = place.shape[0]
    shown = np.unique(place)  # the colour bar lists these only
    z = np.searchsorted(shown, place)
    n_k = len(shown)
    scale: list[list[Any]] = []
    for i, p in enumerate(shown.tolist()):
        scale.append([i / n_k, colours[p]])
        scale.append([(i + 1) / n_k, colours[p]])
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=_times(result, _hourly_steps(result)),
            y=[s.name for s in trace.services[:n_s]],
            text=np.asarray(keys, dtype=object)[place],
            hovertemplate="%{y}<br>%{x}<br>%{text}<extra></extra>",
            colorscale=scale,
            zmin=-0.5,
            zmax=n_k - 0.5,
            colorbar={
                "tickvals": list(range(n_k)),
                "ticktext": [keys[p] for p in shown],
                "title": "placement",
            },
        )
    )
    note = "" if n_s == len(trace.services) else f" (first {n_s} of {len(trace.services)} services)"
    fig.update_layout(
        title=f"Placements over time: {strategy}{note}",
        height=max(320, 22 * n_s + 140),
        yaxis={"autorange": "reversed"},
    )
    return fig


def _table(rows: list[list[str]], header: list[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _summary_tables(doc: dict[str, Any]) -> str:
    strategies = [
        strategy_row(name, st, savings=f"${st['savings_vs_static_usd']:,.2f}")
        for name, st in doc["strategies"].items()
    ]
    policy = doc["policy"]
    cap = doc["captured_savings"]
    gate = [
        [
            "n/a" if cap is None else f"{cap:.3f}",
            str(policy["recommendations"]),
            str(policy["auto_approve"]),
            str(policy["manual_review"]),
            str(policy["deny"]),
            "n/a" if policy["auto_share"] is None else f"{policy['auto_share']:.2f}",
            str(policy["applied"]),
        ]
    ]
    services = [
        [
            r["service"],
            f"${r['static']['cost_usd']:,.2f}",
            f"${r['platform']['cost_usd']:,.2f}",
            f"${r['oracle']['cost_usd']:,.2f}",
            f"{r['platform']['migrations']}/{r['oracle']['migrations']}",
            f"{r['platform']['slo_violation_minutes']:g}/{r['oracle']['slo_violation_minutes']:g}",
            f"{r['platform']['outage_minutes']:g}/{r['oracle']['outage_minutes']:g}",
            f"{r['auto_approved']}/{r['manual_review']}",
            r["platform"]["final"],
            r["oracle"]["final"],
        ]
        for r in doc["services"]
    ]
    return (
        "<h2>Strategies</h2>"
        + _table(strategies, list(STRATEGY_COLUMNS))
        + "<h2>Measure (platform)</h2>"
        + _table([measure_row(doc)], list(MEASURE_COLUMNS))
        + f"<p>{html.escape(doc['measure']['caveat'])}</p>"
        + "<h2>Policy gate and lifecycle (platform)</h2>"
        + _table(
            gate,
            [
                "captured savings",
                "recommendations",
                "auto-approved",
                "manual review",
                "denied",
                "auto share",
                "applied",
            ],
        )
        + "<h2>Per service</h2>"
        + _table(
            services,
            [
                "service",
                "static",
                "platform",
                "oracle",
                "moves p/o",
                "SLO min p/o",
                "outage min p/o",
                "auto/manual",
                "final platform",
                "final oracle",
            ],
        )
    )


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}
table{border-collapse:collapse;margin:0.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
"""


def reliability_figure(cal: dict[str, Any], scenarios: dict[str, dict[str, Any]] | None = None) -> go.Figure:
    """Reliability diagram: per confidence bin, the share of gate decisions net positive in hindsight.
    ``scenarios`` (a suite's: name -> that scenario's calibration section) adds each scenario's bins as
    markers, hidden until its legend entry is clicked."""
    bins = cal["reliability"]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], name="perfectly calibrated", mode="lines", line={"dash": "dot"})
    )
    fig.add_trace(
        go.Scatter(
            x=[b["confidence"] for b in bins],
            y=[b["positive_share"] for b in bins],
            text=[f"{b['count']} decisions" for b in bins],
            name="gate decisions" if scenarios is None else "all scenarios' gate decisions",
            mode="lines+markers",
        )
    )
    for name, own in (scenarios or {}).items():
        fig.add_trace(
            go.Scatter(
                x=[b["confidence"] for b in own["reliability"]],
                y=[b["positive_share"] for b in own["reliability"]],
                text=[f"{name}: {b['count']} decisions" for b in own["reliability"]],
                name=name,
                mode="markers",
                visible="legendonly",
            )
        )
    ece = cal["expected_calibration_error"]
    ece_text = "n/a" if ece is None else f"{ece:.3f}"
    floor = cal.get("ece_noise_floor")
    if ece is not None and floor:
        ece_text += f", a calibrated confidence would show {floor['mean']:.3f} on as many decisions"
    what = "Reliability of confidence"
    if "scenarios" in cal:  # a suite's pooled calibration
        what += f", pooled over {cal['labelled']} decisions of {cal['scenarios']} scenarios"
    fig.update_layout(
        title=f"{what}<br><sub>expected calibration error {ece_text}<br>label: {cal['label']}</sub>",
        xaxis_title="confidence",
        yaxis_title="share net positive in hindsight",
        xaxis={"range": [-0.02, 1.02]},  # a bin at 0 or 1 shows whole, not cut by the frame
        yaxis={"range": [-0.02, 1.02]},
        margin={"t": 120},
        height=560,
    )
    return fig


def report_html(result: BacktestResult, doc: dict[str, Any]) -> str:
    scen = doc["scenario"]
    colours = placement_colours(result)
    figures = [
        cumulative_cost_figure(result),
        savings_figure(result),
        placements_figure(result, "platform", colours),
        placements_figure(result, "oracle", colours),
    ]
    if doc.get("calibration"):
        figures.append(reliability_figure(doc["calibration"]))
    charts = "".join(
        fig.to_html(full_html=False, include_plotlyjs=(i == 0), default_width="100%")
        for i, fig in enumerate(figures)
    )
    events = "".join(f"<li>{html.escape(e)}</li>" for e in scen["scenarios"]) or "<li>none</li>"
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>SWEN backtest {html.escape(scen['name'])}</title><style>{_STYLE}</style></head><body>"
        f"<h1>SWEN backtest: {html.escape(scen['name'])}</h1>"
        f"<p>{html.escape(scen['description'])}</p>"
        f"<p>{scen['services']} services, {scen['days']:g} days from {html.escape(scen['start'])} at "
        f"{scen['step_minutes']:g}-minute steps, seed {scen['seed']}.</p>"
        f"<p>Events:</p><ul>{events}</ul>"
        f"{_summary_tables(doc)}{charts}</body></html>"
    )


def suite_html(doc: dict[str, Any]) -> str:
    """A suite's report: the per-scenario table, the pooled calibration and its reliability diagram
    (the single report's chart, drawn from the pooled decisions)."""
    pooled = doc["pooled_calibration"]
    own = {
        name: report["calibration"] for name, report in doc["reports"].items() if report.get("calibration")
    }
    chart = reliability_figure(pooled, own).to_html(
        full_html=False, include_plotlyjs=True, default_width="100%"
    )
    names = ", ".join(doc["suite"])
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>SWEN backtest suite</title><style>{_STYLE}</style></head><body>"
        f"<h1>SWEN backtest suite: {html.escape(names)}</h1>"
        "<h2>Per scenario</h2>"
        + _table([measure_cells(r) for r in doc["rows"]], list(SUITE_COLUMNS))
        + "<h2>Calibration of confidence per scenario (gate decisions)</h2>"
        + _table([calibration_cells(r) for r in doc["rows"]], list(CALIBRATION_COLUMNS))
        + f"<p>{html.escape(CALIBRATION_CAPTION)}</p>"
        + "<h2>Pooled calibration (every scenario's gate decisions)</h2>"
        + _table(pooled_cells(pooled), list(POOLED_COLUMNS))
        + f"<p>{html.escape(pooled['reading'])}</p>"
        + _table(reliability_cells(pooled), list(RELIABILITY_COLUMNS))
        + f"{chart}</body></html>"
    )


def write_html(result: BacktestResult, doc: dict[str, Any], path: Path) -> None:
    """Write the report atomically (a temporary file renamed over ``path``)."""
    write_atomic(report_html(result, doc), path)


def write_atomic(text: str, path: Path) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed over it: never half a report."""
    folder = path.parent
    if not folder.is_dir():
        raise InvalidInputError(
            f"folder {folder} does not exist", hint="create it or choose another --html path"
        )
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, REPORT_MODE)  # mkstemp's file is the owner's only: a report is for reading
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
