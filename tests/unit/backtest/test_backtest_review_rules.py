"""The ``live`` manual-review lifecycle: the backtest replays the loop's refresh and withdraw rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from swen.backtest.report import summary
from swen.backtest.runner import BacktestConfig, BacktestResult, Prepared, prepare, replay_platform
from swen.backtest.spec import load_spec
from swen.backtest.strategies import Lifecycle, LifecycleEvent, PlatformReplay
from swen.domain.decision import Confidence
from swen.engine.review_rules import (
    REFRESH_CONFIDENCE_GAIN,
    should_withdraw,
    stronger_evidence,
    withdraw_after_cycles,
)
from swen.pipeline.policy import PolicyGate

ALIBABA_CUT = {  # two hours of Alibaba at 60 %: a move proposed during it has lost its reason 4 h later
    "kind": "cost_spike",
    "provider": "alibaba",
    "magnitude": 0.6,
    "start_offset_s": 3600,
    "duration_s": 7200,
}


def confidence(value: float, stability: float) -> Confidence:
    return Confidence(
        value=value,
        margin=0.1,
        margin_term=0.5,
        stability=stability,
        stability_cycles=round(stability * 10),
        stability_window=10,
        freshness=1.0,
    )


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    path = tmp_path_factory.mktemp("spec") / "cut.yaml"
    path.write_text(
        yaml.safe_dump({"name": "cut", "days": 0.5, "seed": 3, "scenarios": [ALIBABA_CUT]}), encoding="utf-8"
    )
    return prepare(BacktestConfig(amortisation_months=6.0, spec=load_spec(str(path)), days=0.5, seed=3))


def replay(prepared: Prepared, manual: str) -> tuple[PlatformReplay, np.ndarray]:
    config = prepared.config
    platform = PlatformReplay(
        prepared.trace,
        prepared.grid,
        prepared.catalog,
        params=config.params,
        lifecycle=Lifecycle(manual=manual),  # type: ignore[arg-type]
        floors=config.floors,
        gate=PolicyGate(),
    )
    return platform, platform.run()


def events(platform: PlatformReplay, service: str) -> list[LifecycleEvent]:
    return [e for e in platform.journal if e.service == service]


def first_move_step(prepared: Prepared, path: np.ndarray, service: str) -> int | None:
    s = [x.name for x in prepared.services].index(service)
    moved = np.flatnonzero(path[:, s] != prepared.grid.initial[s])
    return int(moved[0]) if moved.size else None


# --- the shared predicates -------------------------------------------------------------------------
def test_stronger_evidence_needs_a_full_window_and_the_confidence_gain() -> None:
    waiting = confidence(0.75, 0.5)
    assert stronger_evidence(confidence(0.90, 1.0), waiting)
    assert stronger_evidence(confidence(0.75 + REFRESH_CONFIDENCE_GAIN + 1e-9, 1.0), waiting)
    assert not stronger_evidence(confidence(0.84, 1.0), waiting)  # gain below 0.10
    assert not stronger_evidence(confidence(0.99, 0.9), waiting)  # winner did not hold the window
    assert not stronger_evidence(confidence(0.99, 1.0), confidence(0.80, 1.0))  # already refreshed: once


def test_withdraw_after_one_window_of_cycles() -> None:
    assert withdraw_after_cycles(10) == 10
    assert not should_withdraw(9, 10)
    assert should_withdraw(10, 10)
    assert should_withdraw(1, 1)
    assert not should_withdraw(0, 1)


# --- the replay --------------------------------------------------------------------------------------
def test_waiting_review_is_refreshed_and_auto_approved_once_its_winner_held_the_window(
    prepared: Prepared,
) -> None:
    live, live_path = replay(prepared, "live")
    window = prepared.config.params.stability_window
    gated = [e for e in events(live, "service-2") if e.event in ("manual_review", "auto_approve")]
    first, second = gated  # proposed twice: early evidence, then refreshed once
    assert first.event == "manual_review" and first.stability is not None and first.stability < 1.0
    assert second.event == "auto_approve" and second.stability == 1.0
    assert second.target == first.target
    assert second.confidence is not None and first.confidence is not None
    assert second.confidence >= first.confidence + REFRESH_CONFIDENCE_GAIN
    assert second.step < window  # the window filled: well before a person would act (48 steps)
    assert [e.event for e in events(live, "service-2")].count("refresh") == 1
    moved = first_move_step(prepared, live_path, "service-2")
    assert moved == second.step + prepared.config.lifecycle.pipeline_delay_steps
    # the lifecycle before the rules waits for the person
    approve, approve_path = replay(prepared, "approve")
    assert first_move_step(prepared, approve_path, "service-2") == first.step + approve._human_steps
    assert live.tally.refreshed >= 1 and approve.tally.refreshed == 0


def test_waiting_review_whose_reason_reverted_is_withdrawn_not_applied(prepared: Prepared) -> None:
    live, live_path = replay(prepared, "live")
    withdrawn = [e for e in live.journal if e.event == "withdrawn"]
    assert withdrawn and live.tally.withdrawn == len(withdrawn)
    for event in withdrawn:
        proposed = [
            e for e in events(live, event.service) if e.event == "manual_review" and e.step < event.step
        ]
        assert proposed and proposed[-1].target == event.target
        # withdrawn after a window without the recommendation, before the person's delay ran out
        window = prepared.config.params.stability_window
        assert proposed[-1].step + window <= event.step < proposed[-1].step + live._human_steps
        assert "applied" not in [e.event for e in events(live, event.service) if e.step > event.step]
        assert first_move_step(prepared, live_path, event.service) is None
    # the same review approved as it is (the lifecycle before the rules) is applied after the delay
    name = withdrawn[0].service
    approve, approve_path = replay(prepared, "approve")
    applied = [e for e in events(approve, name) if e.event == "applied"]
    assert applied and applied[0].step == proposed_step(approve, name) + approve._human_steps
    assert first_move_step(prepared, approve_path, name) == applied[0].step


def proposed_step(platform: PlatformReplay, service: str) -> int:
    return next(e.step for e in platform.journal if e.service == service and e.event == "manual_review")


def test_live_lifecycle_accounts_for_every_proposal_and_never_beats_the_oracle(prepared: Prepared) -> None:
    result = replay_platform(prepared, lifecycle=Lifecycle(manual="live"))
    p = result.policy
    assert p.recommendations == p.auto_approve + p.manual_review + p.deny + p.engine_errors
    assert (
        p.applied + p.rejected_by_person + p.failed_no_capacity + p.superseded + p.withdrawn
        <= p.auto_approve + p.manual_review
    )
    assert p.refreshed <= p.superseded
    assert int(result.platform.migrations.sum()) == p.applied
    for s in range(len(result.trace.services)):
        assert lex_at_least(result.platform.rank_key(s), result.oracle.rank_key(s))


def lex_at_least(a: tuple[int, int, float], b: tuple[int, int, float]) -> bool:
    if a[:2] != b[:2]:
        return a[:2] > b[:2]
    return a[2] >= b[2] - 1e-6


@pytest.mark.parametrize(("scenario", "days"), [("calm-month", 2.0), ("gpu-scarcity", 3.0)])
def test_live_lifecycle_never_beats_the_oracle_on_shipped_scenarios(scenario: str, days: float) -> None:
    spec = load_spec(scenario)
    result = replay_platform(
        prepare(BacktestConfig(amortisation_months=6.0, spec=spec, days=days, seed=spec.seed))
    )
    assert result.lifecycle.manual == "live"  # the default
    for s in range(len(result.trace.services)):
        assert lex_at_least(result.platform.rank_key(s), result.oracle.rank_key(s))


def test_live_lifecycle_same_seed_same_report(tmp_path: Path) -> None:
    def run(seed: int) -> BacktestResult:
        path = tmp_path / "cut.yaml"
        path.write_text(
            yaml.safe_dump({"name": "cut", "days": 0.5, "seed": seed, "scenarios": [ALIBABA_CUT]}),
            encoding="utf-8",
        )
        return replay_platform(
            prepare(BacktestConfig(amortisation_months=6.0, spec=load_spec(str(path)), days=0.5, seed=seed))
        )

    first = summary(run(3))
    assert first["settings"]["manual_review"] == "live"
    assert first["policy"]["refreshed"] >= 1 and first["policy"]["withdrawn"] >= 1
    assert json.dumps(first, sort_keys=True) == json.dumps(summary(run(3)), sort_keys=True)
    assert json.dumps(first, sort_keys=True) != json.dumps(summary(run(4)), sort_keys=True)


def test_live_pays_less_than_approving_stale_reviews(prepared: Prepared) -> None:
    live = replay_platform(prepared, lifecycle=Lifecycle(manual="live"))
    approve = replay_platform(prepared, lifecycle=Lifecycle(manual="approve"))
    assert live.platform.total_usd < approve.platform.total_usd
    assert live.platform.slo_minutes.sum() <= approve.platform.slo_minutes.sum()
