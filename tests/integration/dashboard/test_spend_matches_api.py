"""The Cost tab's spend chart plots /cost-analysis's own series, on a fleet with 3 replicas a service.

The platform's telemetry runs two days ahead of wall time (as an accelerated simulator's does), so
/cost-analysis's window ends at the newest sample and every request sees the same buckets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_env import LiveApi, make_app, seed, serve

from swen.api.schemas import CostAnalysisOut
from swen.dashboard.tabs.cost import spend_chart_series
from swen.demo.seed import demo_fleet

REPLICAS = 3
SPEND_CHART = "Spend per provider over time (monthly rate)"


@pytest.fixture
def replicated_api(tmp_path: Path) -> Iterator[LiveApi]:
    fleet = [s.model_copy(update={"replicas": REPLICAS}) for s in demo_fleet()]
    ahead = datetime.now(UTC) + timedelta(days=2)
    yield from serve(seed(tmp_path / "home", services=fleet, steps=12, act=False, end=ahead))


def _get(api: LiveApi, path: str, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {api.platform.viewer_key}"}
    response = httpx.get(api.url + path, params=params, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _api_series(cost: dict[str, Any]) -> dict[str, list[tuple[datetime, float]]]:
    return {
        s["provider"]: [(datetime.fromisoformat(p["ts"]), p["monthly_usd"]) for p in s["points"]]
        for s in cost["spend_by_provider"]
    }


def _plotted(at: Any) -> dict[str, list[tuple[datetime, float]]]:
    [chart] = [
        spec
        for spec in (json.loads(el.proto.spec) for el in at.get("plotly_chart"))
        if spec["layout"]["title"]["text"] == SPEND_CHART
    ]
    return {
        trace["name"].split(" ")[0]: [
            (datetime.fromisoformat(x), y) for x, y in zip(trace["x"], trace["y"], strict=True)
        ]
        for trace in chart["data"]
    }


def test_the_spend_chart_plots_the_cost_analysis_series(
    replicated_api: LiveApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = make_app(replicated_api.url, replicated_api.platform.viewer_key, monkeypatch, tab="Cost Analysis")
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]

    cost = _get(replicated_api, "/cost-analysis", days=7)
    expected = _api_series(cost)
    assert expected and all(points for points in expected.values())
    plotted = _plotted(at)
    newest = max(
        datetime.fromisoformat(p["ts"]) for p in _get(replicated_api, "/telemetry", limit=1000)["items"]
    )
    # drawn on to the newest sample, or to where the series end when earlier (read from the rollups:
    # the last rolled-up hour)
    until = min(newest, datetime.fromisoformat(cost["series_end"]))
    assert datetime.fromisoformat(cost["newest_sample"]) == newest  # what the tab draws on to
    assert set(plotted) == set(expected)
    for provider, points in expected.items():  # the same floats, through JSON twice, on the clock:
        got = plotted[provider]
        assert got[1 : len(points)] == points[1:]
        assert got[0][1] == points[0][1] and got[0][0] >= points[0][0]  # not before the first sample
        assert got[-1] == (until, points[-1][1]) or got[len(points) - 1] == (until, points[-1][1])
    assert spend_chart_series(CostAnalysisOut.model_validate(cost)) == expected


def test_cost_analysis_costs_a_service_per_instance_times_replicas(replicated_api: LiveApi) -> None:
    cost = _get(replicated_api, "/cost-analysis", days=7)
    page = _get(replicated_api, "/telemetry", limit=1000)
    assert page["next_offset"] is None
    latest = page["items"]
    per_instance = {(p["service"], p["provider"], p["region"]): p["monthly_cost_usd"] for p in latest}
    running = {s["name"]: s["running"] for s in _get(replicated_api, "/services")["items"]}

    assert len(cost["services"]) == len(demo_fleet())
    for c in cost["services"]:
        instance = per_instance[(c["service"], c["provider"], c["region"])]
        assert c["replicas"] == REPLICAS
        assert c["monthly_cost_usd"] == pytest.approx(instance * REPLICAS)
        assert running[c["service"]]["placement"] == {"provider": c["provider"], "region": c["region"]}
        assert running[c["service"]]["monthly_cost_usd"] == pytest.approx(c["monthly_cost_usd"])
    assert cost["total_monthly_usd"] == pytest.approx(sum(c["monthly_cost_usd"] for c in cost["services"]))
