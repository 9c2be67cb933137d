"""`swen backtest --scenario a,b` / `--scenario all`: a suite of replays with their calibration pooled."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from support.cli import Swen, make_swen
from swen.backtest.suite_report import render_suite
from swen.engine.calibration import expected_calibration_error, reliability

SUITE = ("--scenario", "gpu-squeeze,gpu-scarcity", "--days", "4", "--services", "30", "--no-progress")
"""Two scenarios, 30 services, 4 days: the smallest suite that has labelled gate decisions in both."""


@pytest.fixture
def swen(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Swen:
    return make_swen(capsys, monkeypatch)


def test_suite_json_and_html_pool_the_decisions_of_every_scenario(swen: Swen, tmp_path: Path) -> None:
    out = tmp_path / "suite.html"
    run = swen("backtest", *SUITE, "--jobs", "2", "--json", "--html", str(out))
    run.assert_ok()
    doc = json.loads(run.out)
    assert doc["suite"] == ["gpu-squeeze", "gpu-scarcity"]
    rows, reports, pooled = doc["rows"], doc["reports"], doc["pooled_calibration"]
    assert [r["scenario"] for r in rows] == doc["suite"] == list(reports)
    for row in rows:
        report = reports[row["scenario"]]
        cal = report["calibration"]
        assert report["scenario"]["services"] == 30 and report["scenario"]["days"] == 4
        assert row["labelled"] == len(cal["decisions"]) > 0
        assert row["expected_calibration_error"] == cal["expected_calibration_error"]
        assert row["captured_savings"] == report["measure"]["captured_savings"]
        assert row["moves_applied"] == report["measure"]["moves_applied"]
        assert row["scenario"] not in cal["fitted_on"]  # scored with the fold that never saw it
        assert row["verdict"]
    decisions = [d for name in doc["suite"] for d in reports[name]["calibration"]["decisions"]]
    conf = np.array([d["confidence"] for d in decisions])
    positive = np.array([d["positive"] for d in decisions])
    assert pooled["labelled"] == len(decisions) == sum(r["labelled"] for r in rows)
    assert pooled["expected_calibration_error"] == round(expected_calibration_error(conf, positive) or 0, 4)
    assert pooled["reliability"] == reliability(conf, positive)
    assert pooled["held_out"] and pooled["scenarios"] == 2
    assert "leave-one-scenario-out" in pooled["reading"]
    interval = pooled["ece_scenario_interval"]
    assert interval["p05"] <= pooled["expected_calibration_error"] <= interval["p95"]
    page = out.read_text(encoding="utf-8")
    assert out.stat().st_mode & 0o777 == 0o644  # readable like any report, not mkstemp's 0600
    assert "<script src=" not in page  # plotly.js embedded: works offline
    assert page.count('class="plotly-graph-div"') == 1
    for title in ("Per scenario", "Calibration of confidence per scenario", "Pooled calibration"):
        assert title in page
    assert f"pooled over {pooled['labelled']} decisions of 2 scenarios" in page
    for name in doc["suite"]:  # each scenario's own bins, shown on a click of its legend entry
        assert f'"name":"{name}"' in page
    assert not list(tmp_path.glob(".*.tmp"))

    one_by_one = swen("backtest", *SUITE, "--json")  # --jobs 1: the same report, replayed in-process
    one_by_one.assert_ok()
    assert json.loads(one_by_one.out) == doc

    console = Console(width=160, record=True)
    console.print(render_suite(doc))
    text = console.export_text()
    for needle in ("Backtest suite: 2 scenarios (30 services, 4 days)", "Pooled reliability diagram"):
        assert needle in text
    assert "expected calibration error (10 equal-width bins)" in text and "gpu-scarcity" in text


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--scenario", "calm-month,no-such-month"], "no scenario file 'no-such-month'"),
        (["--scenario", "all", "--jobs", "0"], "--jobs 0"),
        (["--scenario", "all", "--jobs", "-3"], "--jobs -3"),
        (["--scenario", "calm-month", "--jobs", "2"], "one scenario"),
        (["--scenario", "calm-month,,price-war"], "empty scenario name"),
        (["--scenario", "calm-month,calm-month"], "listed twice"),
        (["--scenario", "all,calm-month"], "'all' inside a list"),
        (["--scenario", "all", "--sweep", "weights"], "--sweep is for one scenario"),
    ],
)
def test_bad_suite_input_is_one_clear_error_and_exit_2(swen: Swen, args: list[str], needle: str) -> None:
    run = swen("backtest", "--no-progress", *args)
    run.assert_one_line_error(needle)
    assert run.code == 2
    assert run.out == ""  # nothing replayed, nothing printed
