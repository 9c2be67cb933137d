"""`swen backtest`: table, JSON, HTML, sweep and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swen.cli import app
from swen.cli.backtest_cmds import parse_weights
from swen.domain.errors import ConfigError

runner = CliRunner()


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["backtest", "--no-progress", *args])


def test_json_report_is_deterministic_and_complete() -> None:
    first = invoke("--scenario", "price-war", "--days", "0.5", "--json")
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    assert doc["scenario"]["name"] == "price-war"
    assert doc["scenario"]["steps"] == 144
    assert set(doc["strategies"]) == {"static", "platform", "oracle", "scheduled"}
    assert doc["settings"]["amortisation_months"] == round(0.5 / (365.25 / 12), 4)  # the horizon
    measure = doc["measure"]
    assert {"slo_gap_pct_of_service_minutes", "mrs_per_service_month", "sent_to_person"} <= set(measure)
    assert "only means something when SLO minutes are close" in measure["caveat"]
    assert {"auto_approve", "manual_review", "auto_share"} <= set(doc["policy"])
    assert len(doc["services"]) == 10
    again = invoke("--scenario", "price-war", "--days", "0.5", "--json")
    assert json.loads(again.stdout) == doc


def test_table_and_html_report(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = invoke("--scenario", "calm-month", "--days", "0.25", "--services", "12", "--html", str(out))
    assert result.exit_code == 0, result.output
    for title in ("Backtest calm-month: 12 services", "Policy gate and lifecycle", "Per service"):
        assert title in result.stdout
    page = out.read_text(encoding="utf-8")
    assert "Cumulative cost" in page and "Placements over time" in page
    assert "<script src=" not in page  # plotly.js is embedded: the report works offline
    assert len(page) > 3_000_000
    assert page.count('class="plotly-graph-div"') == 5  # + the reliability diagram of the confidence
    assert "Cumulative savings vs static" in page and "Reliability of confidence" in page
    assert not list(tmp_path.glob(".*.tmp"))


def test_weights_and_thresholds_reach_the_engine() -> None:
    result = invoke(
        "--scenario",
        "calm-month",
        "--days",
        "0.25",
        "--json",
        "--weights",
        "cost=0.7,latency=0.1,credits=0.1,availability=0.1",
        "--min-confidence",
        "0.6",
        "--min-savings",
        "20",
    )
    assert result.exit_code == 0, result.output
    settings = json.loads(result.stdout)["settings"]
    assert settings["weights"] == {"cost": 0.7, "latency": 0.1, "credits": 0.1, "availability": 0.1}
    assert (settings["min_confidence"], settings["min_savings_usd"]) == (0.6, 20.0)


def test_live_manual_review_lifecycle_is_the_default_and_the_others_remain() -> None:
    base = ("--scenario", "calm-month", "--days", "1", "--json")
    live = json.loads(invoke(*base).stdout)
    assert live["settings"]["manual_review"] == "live"
    assert live["policy"]["refreshed"] == 0  # issue 11: one move, one merge request (no refresh)
    assert live["settings"]["review_cost_usd"] == 100.0  # the value of waiting's review cost (engine.route)
    assert live["settings"]["auto_propose_confidence"] == 0.85  # the engine's auto bar: the gate's
    assert live["settings"]["auto_min_evidence"] == 5.0  # held for stronger evidence below it
    assert (live["settings"]["max_repair_cost_pct"], live["settings"]["slo_holddown_s"]) == (150.0, 2592000.0)
    assert 0 <= live["policy"]["slo_repairs_auto"] <= live["policy"]["slo_repairs"]
    assert live["policy"]["held_services"] >= 0 and live["policy"]["held_service_days"] >= 0
    approve = invoke(*base, "--manual", "approve")
    assert approve.exit_code == 0, approve.output
    doc = json.loads(approve.stdout)
    assert doc["settings"]["manual_review"] == "approve"
    assert doc["policy"]["refreshed"] == doc["policy"]["withdrawn"] == 0


def test_sweep_over_thresholds_lists_each_setting() -> None:
    result = invoke("--scenario", "calm-month", "--days", "0.2", "--sweep", "thresholds", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["sweep"] == "thresholds"
    pairs = {(r["min_confidence"], r["min_savings_usd"]) for r in doc["rows"]}
    assert (0.7, 50.0) in pairs and len(pairs) == 9


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--scenario", "nope"], "no scenario file"),
        (["--scenario", "calm-month", "--weights", "cost=0.9"], "sum to 1"),
        (["--scenario", "calm-month", "--weights", "speed=1"], "bad weight"),
        (["--scenario", "calm-month", "--sweep", "colours"], "--sweep"),
        (["--scenario", "calm-month", "--manual", "maybe"], "--manual"),
        (
            ["--scenario", "calm-month", "--days", "0.1", "--html", "/nonexistent-dir/x.html"],
            "does not exist",
        ),
    ],
)
def test_bad_input_is_a_clear_error(args: list[str], needle: str) -> None:
    result = invoke(*args)
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    assert needle in str(result.exception)


def test_parse_weights_keeps_defaults_for_missing_factors() -> None:
    w = parse_weights("cost=0.45,latency=0.20")
    assert (w.cost, w.latency, w.credits, w.availability) == (0.45, 0.20, 0.20, 0.15)
