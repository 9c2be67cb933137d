"""A suite: several scenarios replayed with the same settings, one row each, and their confidence
scored together.

``run_suite(configs, jobs=N)`` replays each scenario (``run_backtest``, N at a time in worker
processes) and returns each one's report (``report.summary``); ``suite_document(reports)`` is the
suite's report: per scenario the measure (captured savings, vs scheduled, SLO gap, MRs, applied, auto
share) and its calibration with a verdict, and the **pooled calibration** over every scenario's
labelled gate decisions, scored from the individual decisions (confidence, label) by the same function
as one replay's (``calibration.calibration_scores``), never by merging bins.

How the pooled figure reads (``POOLED_READING``): each scenario is scored with the calibration fold
fitted without it (``CalibrationTable.for_scenario``), so every pooled decision is out of sample and
the pooled reliability is a leave-one-scenario-out cross-validation of the calibration *procedure*,
each scenario weighted by its gate decisions. The live loop's ``all`` fold is fitted on every shipped
scenario and is not what is scored.

A scenario's verdict compares its ECE with what a perfectly calibrated confidence shows on as many
decisions: its p-value is the share of those draws at or above it. The draws assume independent
decisions; a scenario's decisions share its price path, so the p-value is if anything too small.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from swen.backtest.calibration import LABEL, calibration_scores
from swen.backtest.calibration_stats import ece_cluster_interval
from swen.backtest.report import summary
from swen.backtest.runner import BacktestConfig, ProgressFactory, no_progress, run_backtest
from swen.backtest.trace import Progress
from swen.domain.errors import SwenError

ALPHA = 0.05
"""A scenario whose ECE has a p-value under this is called off beyond sampling noise."""
POOLED_READING = (
    "Each scenario is scored with the calibration fold fitted without it, so every pooled decision is "
    "out of sample: the pooled figures are a leave-one-scenario-out check of how the calibration "
    "generalises to a scenario it never saw, each scenario weighted by its gate decisions (the live "
    "loop's fold, fitted on all of them, is not what is scored). The noise floor and p-values assume "
    "independent decisions; decisions within a scenario share its price path, so they understate the "
    "noise: the interval over scenarios (the scenarios resampled) is the honest range of the pooled ECE. "
    f"A scenario is called off when its p-value is under {ALPHA:g}; with several scenarios one "
    "such call in twenty is expected by chance."
)

Done = Callable[[str], None]


def scenario_report(config: BacktestConfig, progress: ProgressFactory = no_progress) -> dict[str, Any]:
    """One scenario's report (``report.summary`` of ``run_backtest``); a worker process's task."""
    return summary(run_backtest(config, progress=progress))


def run_suite(
    configs: Sequence[BacktestConfig],
    *,
    jobs: int = 1,
    progress: ProgressFactory = no_progress,
    done: Done = lambda _name: None,
) -> list[dict[str, Any]]:
    """Each config's report, in the configs' order whatever ``jobs`` is (the same reports either way).
    ``jobs`` > 1 replays that many scenarios at once in worker processes (spawned: the parent's
    threads, e.g. a progress bar, are not copied); ``progress`` then is not passed to them, ``done``
    is called with each scenario's name as it finishes."""
    if jobs < 1:
        raise ValueError("jobs must be at least 1")
    names = [c.spec.name for c in configs]
    if jobs == 1 or len(configs) == 1:
        reports = []
        for name, config in zip(names, configs, strict=True):
            reports.append(scenario_report(config, _labelled(progress, name)))
            done(name)
        return reports
    out: dict[int, dict[str, Any]] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(configs)), mp_context=context) as pool:
        futures = {pool.submit(scenario_report, config): i for i, config in enumerate(configs)}
        for future in as_completed(futures):
            i = futures[future]
            try:
                out[i] = future.result()
            except BrokenProcessPool:
                raise SwenError(
                    f"a worker process died while replaying {names[i]}",
                    hint="it was probably out of memory: try fewer --jobs or fewer --services",
                ) from None
            done(names[i])
    return [out[i] for i in range(len(configs))]


def _labelled(progress: ProgressFactory, label: str) -> ProgressFactory:
    def factory(what: str, total: int) -> Progress:
        return progress(f"{label}: {what}", total)

    return factory


def verdict(cal: dict[str, Any] | None) -> str:
    """Whether a set of decisions' ECE is within what sampling alone gives (``ALPHA``), and which way
    it is off when it is not."""
    if not cal or not cal.get("labelled"):
        return "no labelled decisions"
    p = cal["ece_p_value"]
    if p >= ALPHA:
        return "within sampling noise"
    side = "underconfident" if cal["positive_share"] > cal["mean_confidence"] else "overconfident"
    return f"off: {side}"


def suite_row(doc: dict[str, Any]) -> dict[str, Any]:
    """One scenario's line of the suite: its measure and its calibration with a verdict."""
    m, cal = doc["measure"], doc.get("calibration") or {}
    return {
        "scenario": doc["scenario"]["name"],
        "days": doc["scenario"]["days"],
        "services": doc["scenario"]["services"],
        "captured_savings": m["captured_savings"],
        "captured_savings_vs_scheduled": doc["captured_savings_vs_scheduled"],
        "slo_gap_pct_of_service_minutes": m["slo_gap_pct_of_service_minutes"],
        "slo_comparable": m["slo_comparable"],
        "mrs_opened": m["mrs_opened"],
        "mrs_per_service_month": m["mrs_per_service_month"],
        "moves_applied": m["moves_applied"],
        "auto_share": m["auto_share"],
        "labelled": cal.get("labelled", 0),
        "expected_calibration_error": cal.get("expected_calibration_error"),
        "ece_noise_floor": cal.get("ece_noise_floor"),
        "ece_p_value": cal.get("ece_p_value"),
        "mean_confidence": cal.get("mean_confidence"),
        "positive_share": cal.get("positive_share"),
        "auto_approved_positive_share": cal.get("auto_approved_positive_share"),
        "verdict": verdict(cal),
    }


def pooled_calibration(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The calibration of every report's labelled gate decisions together, scored from the decisions
    themselves (``calibration_scores``). ``held_out``: every scenario was scored with a fold that never
    saw it (a calibrated replay whose fold's ``fitted_on`` does not name it)."""
    cals = [(doc["scenario"]["name"], doc.get("calibration") or {}) for doc in reports]
    decisions = [d for _, cal in cals for d in cal.get("decisions", ())]
    conf = np.array([d["confidence"] for d in decisions], dtype=np.float64)
    positive = np.array([d["positive"] for d in decisions], dtype=bool)
    auto = np.array([d["auto_approved"] for d in decisions], dtype=bool)
    scores = calibration_scores(conf, positive, auto)
    interval = ece_cluster_interval(
        [
            (
                np.array([d["confidence"] for d in cal.get("decisions", ())], dtype=np.float64),
                np.array([d["positive"] for d in cal.get("decisions", ())], dtype=bool),
            )
            for _, cal in cals
        ]
    )
    return {
        "scenarios": len(cals),
        "calibrated": all(cal.get("calibrated") for _, cal in cals),
        "held_out": all(cal.get("calibrated") and name not in cal["fitted_on"] for name, cal in cals),
        "folds": {name: cal.get("fitted_on") for name, cal in cals},
        "label": LABEL,
        **scores,
        "ece_scenario_interval": None
        if interval is None
        else {"p05": round(interval[0], 4), "p95": round(interval[1], 4)},
        "verdict": verdict(scores),
        "reading": POOLED_READING,
    }


def suite_document(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The suite's report: one row per scenario, the pooled calibration, and each scenario's full
    report under ``reports`` (as ``swen backtest --json`` gives it for that scenario alone)."""
    return {
        "suite": [doc["scenario"]["name"] for doc in reports],
        "rows": [suite_row(doc) for doc in reports],
        "pooled_calibration": pooled_calibration(reports),
        "reports": {doc["scenario"]["name"]: doc for doc in reports},
    }
