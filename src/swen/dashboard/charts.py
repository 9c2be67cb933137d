"""Plotly figure builders: pure functions of API data -> figures (no Streamlit, no HTTP).

Every figure that shows an Alibaba Cloud price marks it SIMULATED (the API's ``simulated_price``
flags), in the legend or the candidate label and in the title.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import plotly.graph_objects as go
from plotly.colors import qualitative

from swen.api.schemas import MergeRequestOut, ServiceOut, TelemetryPoint
from swen.domain.decision import Confidence, ProviderScore

SIMULATED = "SIMULATED"
FACTOR_COLOURS = {"cost": "#4C78A8", "latency": "#F58518", "credits": "#54A24B", "availability": "#B279A2"}
STAGE_COLOURS = {
    "success": "#54A24B", "failed": "#E45756", "running": "#4C78A8", "waiting": "#F2CF5B",
    "skipped": "#BAB0AC", "pending": "#BAB0AC",
}  # fmt: skip
METRICS = {
    "monthly_cost_usd": ("Cost ($/month)", "$,.0f"),
    "latency_ms": ("Latency p95 (ms)", ",.1f"),
    "availability": ("Availability", ".4f"),
    "gpu_availability": ("GPU availability", ".2f"),
}


CURRENT_COLOUR = "#111111"
SERIES_COLOURS: tuple[str, ...] = tuple(
    c for c in (*qualitative.Dark24, *qualitative.Light24) if c.upper() not in ("#222A2A", "#FFFFFF")
)
"""46 distinct colours (none near the current placement's black): a service has at most a few dozen
candidate regions."""
SERIES_DASHES = ("solid", "dot", "dash", "longdash", "dashdot")
TIME_TICKS = [
    {"dtickrange": [None, 60_000], "value": "%H:%M:%S"},
    {"dtickrange": [60_000, 86_400_000], "value": "%H:%M<br>%b %d"},
    {"dtickrange": [86_400_000, None], "value": "%b %d"},
]
"""Time axes in seconds, minutes or days, never fractions of a second."""


def time_axis(fig: go.Figure) -> go.Figure:
    fig.update_xaxes(type="date", tickformatstops=TIME_TICKS, hoverformat="%Y-%m-%d %H:%M:%S")
    return fig


def series_style(index: int) -> dict[str, str]:
    """The colour (and past 48 series, the dash) of the index-th series: no two alike."""
    return {
        "color": SERIES_COLOURS[index % len(SERIES_COLOURS)],
        "dash": SERIES_DASHES[index // len(SERIES_COLOURS) % len(SERIES_DASHES)],
    }


def _layout(fig: go.Figure, title: str, *, height: int = 360) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.0},
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def candidate_label(score: ProviderScore) -> str:
    marks = " (current)" if score.is_current else ""
    price = f" [{SIMULATED} price]" if score.simulated_price else ""
    return f"{score.rank}. {score.placement.key}{marks}{price}"


def placement_matrix(services: Sequence[ServiceOut], providers: Sequence[str]) -> go.Figure:
    """Where each service runs now: services (rows) x providers (columns), the region in the cell."""
    names = [s.name for s in services]
    z: list[list[float]] = []
    text: list[list[str]] = []
    for s in services:
        where = s.running.placement
        z.append([1.0 if where.provider == p else 0.0 for p in providers])
        text.append([where.region if where.provider == p else "" for p in providers])
    fig = go.Figure(
        go.Heatmap(
            z=z, x=list(providers), y=names, text=text, texttemplate="%{text}", showscale=False,
            colorscale=[[0, "#F4F6F8"], [1, "#4C78A8"]], zmin=0, zmax=1, xgap=2, ygap=2,
            hovertemplate="%{y} on %{x}: %{text}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_yaxes(autorange="reversed")
    height = max(260, min(4000, 26 * len(names) + 90))
    return _layout(fig, "Where each service runs now (region in the cell)", height=height)


def factor_contributions(ranking: Sequence[ProviderScore]) -> go.Figure:
    """Stacked bars: each candidate's total score split into weight x factor contributions."""
    labels = [candidate_label(s) for s in ranking]
    fig = go.Figure()
    for factor, colour in FACTOR_COLOURS.items():
        fig.add_bar(
            name=factor,
            x=[getattr(s.contributions, factor) for s in ranking],
            y=labels,
            orientation="h",
            marker_color=colour,
            hovertemplate=f"{factor}: %{{x:.3f}}<extra>%{{y}}</extra>",
        )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(autorange="reversed")
    note = f" - Alibaba prices are {SIMULATED}" if any(s.simulated_price for s in ranking) else ""
    title = f"Factor contributions per candidate (weight x factor score){note}"
    return _layout(fig, title, height=max(260, 40 * len(labels) + 120))


def confidence_parts(conf: Confidence) -> go.Figure:
    """Confidence and its parts (margin term, stability, freshness), each in [0, 1]."""
    names = ["confidence", "margin term", "stability", "freshness"]
    values = [conf.value, conf.margin_term, conf.stability, conf.freshness]
    fig = go.Figure(
        go.Bar(
            x=values, y=names, orientation="h", text=[f"{v:.2f}" for v in values], textposition="auto",
            marker_color=["#4C78A8", "#9ECAE9", "#9ECAE9", "#9ECAE9"],
        )
    )  # fmt: skip
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "Confidence and its parts", height=240)


def pipeline_timeline(mr: MergeRequestOut) -> go.Figure:
    """The MR's pipeline stages as a timeline (newest run), coloured by status."""
    fig = go.Figure()
    run = mr.pipelines[0] if mr.pipelines else None
    if run is not None:
        for stage in run.stages:
            ms = max(1.0, (stage.duration_s or 0.0) * 1000.0)
            fig.add_bar(
                name=stage.status, x=[ms], y=[stage.name], base=[stage.started_at.isoformat()],
                orientation="h", marker_color=STAGE_COLOURS.get(stage.status, "#BAB0AC"),
                showlegend=False, text=[stage.status], textposition="inside",
                hovertemplate=f"{stage.name}: {stage.status}, {stage.duration_s or 0:.2f} s<extra></extra>",
            )  # fmt: skip
        fig.update_xaxes(type="date")
        fig.update_yaxes(autorange="reversed")
    title = f"Pipeline of MR {mr.id}" + (f" (run {run.id}: {run.status})" if run else " (no run yet)")
    return _layout(fig, title, height=260)


def spend_by_provider(series: dict[str, list[tuple[datetime, float]]], simulated: set[str]) -> go.Figure:
    """Monthly spend per provider over time (/cost-analysis's series: services there x replicas)."""
    fig = go.Figure()
    for i, (provider, points) in enumerate(sorted(series.items())):
        label = f"{provider} ({SIMULATED} prices)" if provider in simulated else provider
        fig.add_scatter(
            x=[t for t, _ in points], y=[v for _, v in points], name=label, mode="lines+markers",
            stackgroup="spend", line={"shape": "hv", "color": series_style(i)["color"]},
            hovertemplate="%{y:$,.0f}/month<extra>" + label + "</extra>",
        )  # fmt: skip
    fig.update_yaxes(title="$/month", tickformat="$,.0f")
    time_axis(fig)
    return _layout(fig, "Spend per provider over time (monthly rate)")


def cumulative_savings(points: Sequence[tuple[datetime, float]]) -> go.Figure:
    """Cumulative net monthly savings of verified decisions, by verification time."""
    fig = go.Figure()
    if points:
        fig.add_scatter(
            x=[t for t, _ in points], y=[v for _, v in points], mode="lines+markers", line_shape="hv"
        )
    fig.update_yaxes(title="$/month saved", tickformat="$,.0f")
    time_axis(fig)
    return _layout(fig, "Cumulative savings realised (net $/month of verified moves)", height=300)


def projected_savings(items: Sequence[tuple[str, float, bool]]) -> go.Figure:
    """Net monthly savings of each open recommendation: (service -> target, savings, simulated)."""
    labels = [label + (f" [{SIMULATED} price]" if sim else "") for label, _, sim in items]
    fig = go.Figure(go.Bar(x=[v for _, v, _ in items], y=labels, orientation="h", marker_color="#54A24B"))
    fig.update_xaxes(title="net $/month", tickformat="$,.0f")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "Projected savings of open recommendations", height=max(240, 34 * len(items) + 120))


def service_costs(rows: Sequence[tuple[str, str, float, bool]]) -> go.Figure:
    """Monthly cost per service on its placement: (service, provider, cost, simulated), largest on top."""
    by_provider: dict[str, list[tuple[str, float, bool]]] = defaultdict(list)
    for service, provider, cost, sim in rows:
        by_provider[provider].append((service, cost, sim))
    fig = go.Figure()
    for provider, items in sorted(by_provider.items()):
        sim = any(s for _, _, s in items)
        fig.add_bar(
            name=f"{provider} ({SIMULATED} prices)" if sim else provider,
            x=[c for _, c, _ in items], y=[n for n, _, _ in items], orientation="h",
        )  # fmt: skip
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title="$/month", tickformat="$,.0f")
    fig.update_yaxes(categoryorder="total ascending")
    return _layout(fig, "Monthly cost per service", height=max(260, min(4000, 20 * len(rows) + 120)))


def credits_burndown(burndown: dict[str, list[tuple[datetime, float]]]) -> go.Figure:
    """Unused credit balance per provider over time (provider -> [(time, balance)])."""
    fig = go.Figure()
    for i, (provider, points) in enumerate(sorted(burndown.items())):
        fig.add_scatter(
            x=[t for t, _ in points], y=[v for _, v in points], name=provider, mode="lines+markers",
            line={"shape": "hv", "color": series_style(i)["color"]},
            hovertemplate="%{y:$,.0f}<extra>" + provider + "</extra>",
        )  # fmt: skip
    small = max((v for points in burndown.values() for _, v in points), default=0.0) < 10
    fig.update_yaxes(title="credits $", tickformat="$,.2f" if small else "$,.0f", rangemode="tozero")
    time_axis(fig)
    return _layout(fig, "Credits burn-down per provider", height=300)


@dataclass(frozen=True)
class Marks:
    """What the telemetry charts mark besides the series: where the service runs now, its moves
    (time, label) and its incidents (start, end or None while open, label)."""

    current: str | None = None
    moves: Sequence[tuple[datetime, str]] = ()
    incidents: Sequence[tuple[datetime, datetime | None, str]] = ()


def telemetry_series(
    points: Iterable[TelemetryPoint], metric: str, *, slo_ms: float | None = None, marks: Marks | None = None
) -> go.Figure:
    """One metric over time, a line per (provider, region), each in its own colour; the current
    placement drawn thick, moves as vertical lines, incidents as shaded spans, the SLO dashed."""
    title, fmt = METRICS[metric]
    marks = marks or Marks()
    lines: dict[str, list[TelemetryPoint]] = defaultdict(list)
    simulated: set[str] = set()
    for p in points:
        key = f"{p.provider}/{p.region}"
        lines[key].append(p)
        if p.simulated_price:
            simulated.add(key)
    fig = go.Figure()
    ordered = sorted(lines, key=lambda k: (k != marks.current, k))  # the current placement first
    for i, key in enumerate(ordered):
        pts = sorted(lines[key], key=lambda q: q.ts)
        sim = metric == "monthly_cost_usd" and key in simulated
        current = key == marks.current
        name = key + (" (current)" if current else "") + (f" ({SIMULATED} price)" if sim else "")
        style = series_style(i)
        fig.add_scatter(
            x=[q.ts for q in pts], y=[getattr(q, metric) for q in pts], name=name,
            mode="lines+markers" if len(pts) < 3 else "lines",
            line={"color": CURRENT_COLOUR if current else style["color"], "dash": style["dash"],
                  "width": 4 if current else 1.5},
        )  # fmt: skip
    times = [p.ts for pts in lines.values() for p in pts]
    oldest, newest = min(times, default=None), max(times, default=None)
    for ts, label in marks.moves:
        fig.add_vline(x=ts, line_dash="dot", line_color="#4C78A8", line_width=2)
        fig.add_annotation(
            x=ts, y=0.0, yref="paper", yanchor="bottom", text=label, showarrow=False, xanchor="right",
            font={"size": 10, "color": "#4C78A8"}, bgcolor="rgba(255,255,255,0.8)",
        )  # fmt: skip
    for start, end, label in marks.incidents:
        fig.add_vrect(
            x0=start, x1=end or newest or start, fillcolor="#E45756", opacity=0.15, line_width=0,
            annotation_text=label, annotation_position="top left", annotation_font_size=10,
            annotation_font_color="#B22222",
        )  # fmt: skip
    if oldest is not None and newest is not None and oldest < newest:
        fig.update_xaxes(range=[oldest, newest])  # the marks never stretch the time axis
    if slo_ms is not None and metric == "latency_ms":
        fig.add_hline(y=slo_ms, line_dash="dash", line_color="#E45756", annotation_text=f"SLO {slo_ms:g} ms")
    fig.update_yaxes(tickformat=fmt)
    time_axis(fig)
    note = f" - Alibaba prices are {SIMULATED}" if metric == "monthly_cost_usd" and simulated else ""
    _layout(fig, title + note, height=420)
    fig.update_layout(legend={"orientation": "v", "y": 1.0, "x": 1.02, "font": {"size": 10}})
    return fig


def provider_health(rows: Sequence[tuple[str, float, float]]) -> go.Figure:
    """Availability and error rate per provider: (provider, availability, error rate)."""
    fig = go.Figure()
    fig.add_bar(
        name="availability", x=[p for p, _, _ in rows], y=[a for _, a, _ in rows], marker_color="#54A24B"
    )
    fig.add_bar(
        name="error rate", x=[p for p, _, _ in rows], y=[e for _, _, e in rows], marker_color="#E45756"
    )
    fig.update_yaxes(range=[0, 1])
    return _layout(fig, "Health per provider (placements now)", height=300)
