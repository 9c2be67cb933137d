"""The live credit ledger on a real store (SQLite and PostgreSQL), and its parity with the backtest."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from swen.backtest.accounting import account
from swen.backtest.spec import parse_spec
from swen.backtest.trace import Floors, build_grid, build_trace
from swen.config import Settings
from swen.domain.models import Placement, Service
from swen.store.credits import CreditBurnRepository
from swen.store.repository import Store
from swen.telemetry.catalog import load_catalog
from swen.telemetry.credit_file import load_credit_ledger
from swen.telemetry.fleet import load_fleet
from swen.telemetry.ledger import LiveLedger, hourly_costs

T0 = datetime(2026, 1, 5, tzinfo=UTC)
STEP = timedelta(minutes=5)
P = Placement.parse
LEDGER = """grants:
  - name: aws-short
    provider: aws
    amount_usd: 1
    expires_after_days: 0.0625     # 90 minutes
  - name: aws-later
    provider: aws
    account: "123456789012"
    amount_usd: 0.5
    start: 2026-01-05T01:00:00Z
  - name: alibaba-drip
    provider: alibaba
    amount_usd: 0.02
    refill: {amount_usd: 0.1, every_days: 0.03125}   # every 45 minutes
"""


@pytest.fixture
def ledger_file(tmp_path: Path) -> Path:
    path = tmp_path / "credits.yaml"
    path.write_text(LEDGER)
    return path


@pytest.fixture
def settings(swen_home: Path, ledger_file: Path) -> Settings:
    return Settings(home=swen_home, credits_file=ledger_file, credits_interval_s=300)


def fleet() -> list[Service]:
    return [s for s in load_fleet() if s.name in {"service-1", "service-2", "service-3"}]


def run(ledger: LiveLedger, steps: int, placements: dict[str, Placement], start: int = 0) -> None:
    """One catch-up per burn interval, the way the engine calls it once per cycle."""
    for t in range(start, start + steps + 1):
        ledger.catch_up(T0 + t * STEP, fleet(), placements)


def test_moving_a_service_moves_the_burn(settings: Settings, any_store: Store) -> None:
    ledger = LiveLedger(settings, any_store)
    run(ledger, 3, {})
    run(ledger, 3, {"service-2": P("alibaba/us-west-1")}, start=3)
    rows = CreditBurnRepository(any_store).rows()
    assert [r.interval_start for r in rows] == [T0 + t * STEP for t in range(6)]
    costs = hourly_costs(fleet(), {}, load_catalog())
    service2 = costs["service-2"][1] * 5 / 60
    moved = (
        hourly_costs(fleet(), {"service-2": P("alibaba/us-west-1")}, load_catalog())["service-2"][1] * 5 / 60
    )
    before, after = rows[2], rows[3]
    assert after.burn["aws"] == pytest.approx(before.burn["aws"] - service2)
    assert after.burn["alibaba"] == pytest.approx(before.burn["alibaba"] + moved)


def test_expiry_refill_and_a_grant_that_starts_later(settings: Settings, any_store: Store) -> None:
    ledger = LiveLedger(settings, any_store)
    status = ledger.status(T0)
    assert status.started_at is None
    assert {g.name: g.status for g in status.grants}["aws-later"] == "pending"
    run(ledger, 24, {})  # two hours
    rows = CreditBurnRepository(any_store).rows()
    aws = [r.balance["aws"] for r in rows]
    aws_burn = rows[0].burn["aws"]
    assert 0.1 < aws_burn < 0.2  # $1 lasts 5 to 10 intervals
    assert aws[0] == pytest.approx(1 - aws_burn)
    used_up = math.ceil(1 / aws_burn) - 1  # the interval whose burn takes the last of the $1
    assert aws[used_up - 1] > 0.0
    assert aws[used_up] == 0.0 and aws[11] == 0.0  # used up within the hour, before its expiry
    assert rows[12].applied["aws"] == pytest.approx(aws_burn)  # aws-later starts at 01:00
    assert aws[12] == pytest.approx(0.5 - aws_burn)
    alibaba = [r.balance["alibaba"] for r in rows]
    refills = [i for i in range(1, len(rows)) if alibaba[i] > alibaba[i - 1]]
    assert refills == [9, 18]  # every 45 minutes
    assert alibaba[8] == 0.0  # used up between the refills
    status = {g.name: g for g in ledger.status().grants}
    assert status["aws-short"].status == "expired"
    assert status["aws-short"].expires_at == T0 + timedelta(minutes=90)
    assert status["aws-later"].account == "123456789012"


def test_a_restart_keeps_the_balances_and_never_burns_twice(settings: Settings, any_store: Store) -> None:
    first = LiveLedger(settings, any_store)
    run(first, 6, {"service-2": P("alibaba/us-west-1")})
    balances = first.balances()
    stale = LiveLedger(settings, any_store)  # e.g. a second engine that read the store earlier
    restarted = LiveLedger(settings, any_store)
    assert restarted.balances() == pytest.approx(balances)
    assert restarted.catch_up(T0 + 6 * STEP, fleet(), {}) == 0  # already recorded
    assert restarted.catch_up(T0 + 7 * STEP, fleet(), {}) == 1
    assert stale.through == T0 + 6 * STEP
    first.catch_up(T0 + 7 * STEP, fleet(), {})  # this copy is behind: refused, it replays instead
    assert first.balances() == pytest.approx(restarted.balances())
    assert len(CreditBurnRepository(any_store).rows()) == 7
    stale.refresh()  # a reader takes in only the new intervals
    assert stale.intervals == 7 and stale.balances() == pytest.approx(restarted.balances())


def test_the_status_shows_burn_rate_and_run_out(settings: Settings, any_store: Store) -> None:
    ledger = LiveLedger(settings, any_store)
    run(ledger, 2, {})
    by_provider = {p.provider: p for p in ledger.status().providers}
    alibaba = by_provider["alibaba"]
    assert alibaba.burn_usd_per_day > 0 and alibaba.balance_usd >= 0
    aws = by_provider["aws"]
    assert aws.next_expiry == T0 + timedelta(minutes=90)
    assert aws.runs_out_at is not None and aws.runs_out_at < T0 + timedelta(minutes=90)
    assert not aws.expires_first
    ledger = LiveLedger(settings, any_store)
    run(ledger, 12, {"service-2": P("alibaba/us-west-1")}, start=2)  # aws now burns slower
    aws = {p.provider: p for p in ledger.status().providers}["aws"]
    assert aws.runs_out_at is not None and aws.runs_out_at > T0 + timedelta(minutes=90)
    assert aws.expires_first  # part of the balance will lapse unused


def test_live_and_backtest_give_the_same_balances_for_the_same_placements(
    settings: Settings, any_store: Store, ledger_file: Path
) -> None:
    """The same ledger file and the same placements: the live ledger (catalog prices, store) and the
    backtest's per-strategy ledger (the trace's prices, noise-free = list prices) agree."""
    catalog = load_catalog()
    services = fleet()
    steps, move_at = 30, 10
    grants = parse_spec(
        {"name": "parity", "scenarios": []}, label="parity", base=ledger_file.parent, credits_file=ledger_file
    ).credits
    trace = build_trace(
        services, catalog, seed=3, start=T0, days=steps * 300 / 86400, step_s=300, credits=grants, noise=False
    )
    grid = build_grid(trace, catalog)
    s2 = next(i for i, s in enumerate(services) if s.name == "service-2")
    target = trace.index.pair_for(s2, P("alibaba/us-west-1"))
    column = int(np.flatnonzero(grid.cand_pair[s2] == target)[0])
    path = np.tile(grid.initial, (steps, 1))
    path[move_at:, s2] = column

    backtest = trace.credit_run()
    rate = grid.replicas * trace.step_h
    for t in range(steps):
        pairs = grid.cand_pair[np.arange(len(services)), path[t]]
        backtest.step(t, trace.hourly_cost_usd[t, pairs] * rate, trace.index.pair_provider[pairs])
    outcome = account("platform", trace, grid, path, Floors(), 1)

    live = LiveLedger(settings, any_store)
    live.catch_up(T0, services, {})
    for t in range(1, steps + 1):
        placements = {"service-2": P("alibaba/us-west-1")} if t - 1 >= move_at else {}
        live.catch_up(T0 + t * STEP, services, placements)
    live_balances = live.balances()
    for p, provider in enumerate(backtest.providers):
        assert live_balances[provider] == pytest.approx(float(backtest.balance[p]), rel=1e-6, abs=1e-6)
    applied = sum(sum(r.applied.values()) for r in CreditBurnRepository(any_store).rows())
    assert applied == pytest.approx(float(outcome.credit_usd.sum()), rel=1e-6)
    assert applied > 0


def test_a_backtest_file_reads_the_ledger_file_unless_it_has_credits(ledger_file: Path) -> None:
    base = {"name": "x", "scenarios": []}
    default = parse_spec(base, label="x", base=ledger_file.parent)
    assert [g.name for g in default.credits] == [g.name for g in load_credit_ledger().grants]
    own = parse_spec(base, label="x", base=ledger_file.parent, credits_file=ledger_file)
    assert [g.name for g in own.credits] == ["aws-short", "aws-later", "alibaba-drip"]
    path = parse_spec({**base, "credits": "credits.yaml"}, label="x", base=ledger_file.parent)
    assert path.credits == own.credits
    inline = parse_spec(
        {**base, "credits": {"grants": [{"provider": "gcp", "amount_usd": 5}]}},
        label="x",
        base=ledger_file.parent,
    )
    assert [(g.provider, g.amount_usd) for g in inline.credits] == [("gcp", 5)]
