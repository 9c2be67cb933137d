"""The backtest report as a person reads it: events named by what happened, durations in days and
hours, and charts whose lines and placements can be told apart (also with colour-vision deficiency)."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from plotly.colors import qualitative

from swen.backtest.html import (
    LINES,
    PLACEMENT_COLOURS,
    cumulative_cost_figure,
    placement_colours,
    placements_figure,
    report_html,
    savings_figure,
)
from swen.backtest.report import describe_event, event_name, human_duration, summary
from swen.backtest.runner import BacktestConfig, BacktestResult, run_backtest
from swen.backtest.spec import load_spec
from swen.telemetry.scenarios import Scenario

HOUR = 3600


@pytest.fixture(scope="module")
def price_war() -> BacktestResult:
    """Two days of the packaged price war, its price cuts pulled forward so that moves happen."""
    spec = load_spec("price-war")
    early = [
        s.model_copy(update={"start_offset_s": 2 * HOUR + i * 6 * HOUR}) for i, s in enumerate(spec.scenarios)
    ]
    return run_backtest(
        BacktestConfig(spec=dataclasses.replace(spec, scenarios=tuple(early)), days=2, seed=7)
    )


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (45, "45 s"),
        (90, "1 min 30 s"),
        (900, "15 min"),
        (12_000, "3 h 20 min"),
        (86_399, "1 d"),
        (90_061, "1 d 1 h"),
        (1_209_600, "14 d"),
        (309_600, "3 d 14 h"),
    ],
)
def test_durations_are_in_days_hours_and_minutes(seconds: float, shown: str) -> None:
    assert human_duration(seconds) == shown


@pytest.mark.parametrize(
    ("kind", "magnitude", "name"),
    [
        ("cost_spike", 0.75, "price cut -25 %"),
        ("cost_spike", 1.8, "price rise +80 %"),
        ("cost_spike", 1.0, "price unchanged"),
        ("outage", 1.0, "outage"),
        ("outage", 0.5, "partial outage (severity 0.5)"),
        ("latency_spike", 4.0, "latency x4"),
        ("gpu_stockout", None, "GPU stock-out"),
        ("credit_expiry", None, "credits expire"),
    ],
)
def test_events_are_named_by_what_happened(kind: str, magnitude: float | None, name: str) -> None:
    scenario = Scenario.model_validate({"kind": kind, "provider": "aws", "magnitude": magnitude})
    assert event_name(scenario) == name


def test_the_price_war_lists_price_cuts_with_human_durations() -> None:
    lines = [describe_event(s) for s in load_spec("price-war").scenarios]
    assert lines[0] == "Alibaba cuts prices by 25 %: price cut -25 % on alibaba, from 4 d for 14 d"
    assert all("price cut" in line for line in lines)


def test_the_html_report_shows_the_named_events(price_war: BacktestResult) -> None:
    page = report_html(price_war, summary(price_war))
    events = page.split("<p>Events:</p><ul>", 1)[1].split("</ul>", 1)[0]
    assert events.count("<li>") == 3 and events.count("price cut -") == 3
    assert "cost_spike" not in events and "e+0" not in events and " s)" not in events


def _styles(fig: object) -> list[tuple[str, str]]:
    return [(trace.line.color, trace.line.dash) for trace in fig.data]  # type: ignore[attr-defined]


def test_the_cumulative_lines_differ_in_colour_and_dash(price_war: BacktestResult) -> None:
    for fig, names in ((cumulative_cost_figure(price_war), ["static", "platform", "oracle"]),
                       (savings_figure(price_war), ["platform", "oracle"])):  # fmt: skip
        assert [trace.name for trace in fig.data] == names
        styles = _styles(fig)
        assert len({colour for colour, _ in styles}) == len(names)
        assert len({dash for _, dash in styles}) == len(names)


def test_a_placement_has_one_colour_in_every_heatmap_and_each_shown_one_its_own(
    price_war: BacktestResult,
) -> None:
    colours = placement_colours(price_war)
    keys = [p.key for p in price_war.trace.index.placements]
    by_key: dict[str, str] = {}
    for strategy in ("platform", "oracle"):
        heatmap = placements_figure(price_war, strategy, colours).data[0]
        ticks = list(heatmap.colorbar.ticktext)
        bands = [colour for _, colour in heatmap.colorscale][::2]  # two stops per band
        assert len(bands) == len(ticks) == len(set(bands)), (strategy, ticks, bands)
        assert set(np.unique(heatmap.z).tolist()) == set(range(len(ticks)))  # the bar lists exactly these
        for key, colour in zip(ticks, bands, strict=True):
            assert by_key.setdefault(key, colour) == colour, key
            assert key in keys
    assert len(set(colours.values())) == len(colours)


# --- colour-vision deficiency: Machado et al. (2009) at full severity, distances in CIELAB ------------------
_CVD = {
    "normal": np.eye(3),
    "deuteranopia": np.array(
        [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.01182, 0.04294, 0.968881]]
    ),
    "protanopia": np.array(
        [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]]
    ),
}
_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])


def _lab(colour: str, vision: str) -> np.ndarray:
    srgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255.0
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    xyz = _XYZ @ np.clip(_CVD[vision] @ linear, 0, 1) / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def _closest(colours: list[str], vision: str) -> float:
    return min(
        float(np.linalg.norm(_lab(a, vision) - _lab(b, vision)))
        for a, b in itertools.combinations(colours, 2)
    )


@pytest.mark.parametrize("vision", list(_CVD))
def test_the_colours_stay_apart_with_colour_vision_deficiency(vision: str) -> None:
    """A CIELAB distance of 15 is far more than a just-noticeable difference (about 2.3)."""
    assert _closest(list(PLACEMENT_COLOURS), vision) >= 15
    assert _closest([line["color"] for line in LINES.values()], vision) >= 15


def test_the_former_heatmap_palette_fails_the_same_check() -> None:
    """The check above can fail: the report's former heatmap colours (Plotly's Dark24 for the 12
    placements) had two that deuteranopia makes almost the same."""
    former = (qualitative.Dark24 + qualitative.Light24)[:12]
    assert _closest(former, "normal") >= 15 and _closest(former, "deuteranopia") < 3
