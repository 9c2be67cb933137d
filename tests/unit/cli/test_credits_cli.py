"""`swen credits`: the ledger's grants, balances, burn rate, expiry and run-out; bad files are one line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.cli import Swen, make_swen
from swen.config import Settings
from swen.domain.models import Placement
from swen.store.repository import Store
from swen.telemetry.fleet import load_fleet
from swen.telemetry.ledger import LiveLedger

T0 = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture
def swen(swen_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Swen:
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    return make_swen(capsys, monkeypatch)


def test_credits_show_grants_balances_and_run_out(swen: Swen, swen_home: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "credits.yaml"
    ledger.write_text(
        "grants:\n"
        "  - {name: aws-promo, provider: aws, account: '1234', amount_usd: 50, expires: 2026-03-01}\n"
        "  - {provider: alibaba, amount_usd: 20, refill: {amount_usd: 5, every_days: 7}}\n"
    )
    settings = Settings(home=swen_home, credits_file=ledger)
    with Store.open(settings) as store:
        live = LiveLedger(settings, store)
        moved = {"service-2": Placement.parse("alibaba/us-west-1")}
        for k in range(4):
            live.catch_up(T0 + k * timedelta(minutes=5), load_fleet(), moved)
    run = swen("credits", env={"SWEN_CREDITS_FILE": str(ledger)})
    run.assert_ok()
    assert "started 2026-01-05 00:00, burnt through 2026-01-05 00:15" in run.out
    assert "aws-promo" in run.out and "1234" in run.out and "2026-03-01 00:00" in run.out
    assert "$5.00/7 d" in run.out
    data = json.loads(swen("credits", "--json", env={"SWEN_CREDITS_FILE": str(ledger)}).out)
    assert data["intervals"] == 3 and data["started_at"] == T0.isoformat()
    aws = next(p for p in data["providers"] if p["provider"] == "aws")
    assert 0 < aws["balance_usd"] < 50 and aws["burn_usd_per_day"] > 0
    assert aws["runs_out_at"] is not None and aws["next_expiry"] == "2026-03-01T00:00:00+00:00"
    assert {g["name"]: g["status"] for g in data["grants"]} == {"aws-promo": "active", "alibaba-1": "active"}


def test_a_bad_ledger_file_is_one_line_naming_the_field(swen: Swen, swen_home: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "credits.yaml"
    ledger.write_text("grants:\n  - provider: aws\n    amount_usd: -3\n")
    Store.open(Settings(home=swen_home)).close()
    run = swen("credits", env={"SWEN_CREDITS_FILE": str(ledger)})
    run.assert_one_line_error("grants[0] (line 2).amount_usd: Input should be greater than or equal to 0")
