"""The engine process burns the credit ledger where services run and scores with its balances."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from swen.config import Settings
from swen.domain.models import Placement
from swen.loop import EngineLoop
from swen.store.credits import CreditBurnRepository
from swen.store.repository import Store
from swen.telemetry.ledger import LiveLedger
from swen.telemetry.runner import run_simulator
from swen.telemetry.scenarios import Scenario, ScenarioKind, inject_scenario

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(swen_home: Path, tmp_path: Path) -> Settings:
    ledger = tmp_path / "credits.yaml"
    ledger.write_text(
        "grants:\n"
        "  - {provider: aws, amount_usd: 400}\n"
        "  - {provider: alibaba, amount_usd: 300, expires_after_days: 1}\n"
    )
    return Settings(
        home=swen_home, credits_file=ledger, credits_interval_s=300, sim_interval_s=300, sim_speed=1e9
    )


def test_the_engine_burns_by_placement_and_scores_with_the_ledgers_balances(settings: Settings) -> None:
    with Store.open(settings) as store:
        run_simulator(settings, store, seed=3, start=START, max_steps=2)
        engine = EngineLoop(settings, store, anomaly_detection=False)
        engine.cycle()  # the ledger starts at the newest telemetry (12:05)
        store.record_placement("service-2", Placement.parse("alibaba/us-west-1"), decision_id=None, at=START)
        run_simulator(settings, store, seed=3, max_steps=6)
        engine.cycle()
        rows = CreditBurnRepository(store).rows()
        assert [r.interval_start for r in rows] == [START + timedelta(minutes=5 * k) for k in range(1, 7)]
        assert all(r.burn["alibaba"] > 0.1 for r in rows)  # service-2's 4 replicas now burn there
        balances = engine.credits.balances()
        assert 0 < balances["alibaba"] < 300 and 0 < balances["aws"] < 400

        restarted = EngineLoop(settings, store, anomaly_detection=False)
        assert restarted.credits.balances() == pytest.approx(balances)
        result = restarted.dry_run()  # what `swen explain` shows
        assert result is not None
        ranking = [score for d in result.decisions for score in d.ranking]
        assert {s.placement.provider for s in ranking} >= {"aws", "alibaba"}
        for score in ranking:
            assert score.credits_usd == pytest.approx(balances.get(score.placement.provider, 0.0))
        restarted = EngineLoop(settings, store, anomaly_detection=False)
        run_simulator(settings, store, seed=3, max_steps=1)
        restarted.cycle()
        assert len(CreditBurnRepository(store).rows()) == 7  # one more interval, none twice
        # the simulator published the ledger as the engine had recorded it (six intervals) then
        latest = {s.provider: s.credits_usd for s in store.latest_samples(service="service-1")}
        assert latest["alibaba"] == pytest.approx(rows[-1].balance["alibaba"])
        assert LiveLedger(settings, store).balances() == pytest.approx(restarted.credits.balances())


def test_an_injected_credit_expiry_empties_the_ledger_and_survives_a_restart(settings: Settings) -> None:
    with Store.open(settings) as store:
        run_simulator(settings, store, seed=3, start=START, max_steps=2)
        engine = EngineLoop(settings, store, anomaly_detection=False)
        engine.cycle()
        run_simulator(settings, store, seed=3, max_steps=2)
        engine.cycle()
        assert engine.credits.balances()["alibaba"] > 0
        inject_scenario(store, Scenario(kind=ScenarioKind.CREDIT_EXPIRY, provider="alibaba"))
        run_simulator(settings, store, seed=3, max_steps=3)
        engine.cycle()
        assert engine.credits.balances()["alibaba"] == 0.0
        assert engine.credits.balances()["aws"] > 0
        assert LiveLedger(settings, store).balances()["alibaba"] == 0.0  # replayed with the expiry
        assert {g.name: g.status for g in LiveLedger(settings, store).status().grants}[
            "alibaba-1"
        ] == "expired"
