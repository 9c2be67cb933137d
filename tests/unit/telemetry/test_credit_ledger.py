"""The credit ledger returns the credit it applied, so a bill can count it (backtest, issue 11)."""

from __future__ import annotations

import numpy as np
import pytest

from swen.telemetry.credits import CreditLedger
from swen.telemetry.fleet import CreditGrant


def test_advance_returns_the_credit_applied_never_more_than_the_balance() -> None:
    ledger = CreditLedger(["aws", "gcp"], {"aws": CreditGrant(balance_usd=10.0, expires_after_days=1)})
    applied = ledger.advance(0.0, np.array([4.0, 3.0]))
    assert applied.tolist() == [4.0, 0.0]  # gcp has no grant: everything paid at list price
    assert ledger.balance.tolist() == [6.0, 0.0]
    applied = ledger.advance(60.0, np.array([9.0, 0.0]))
    assert applied.tolist() == [6.0, 0.0]
    assert ledger.balance.tolist() == [0.0, 0.0]


def test_expiry_and_refill_come_before_the_burn() -> None:
    grant = CreditGrant(balance_usd=5.0, expires_after_days=1, refill_usd=2.0, refill_every_days=2)
    ledger = CreditLedger(["aws"], {"aws": grant})
    assert ledger.advance(86400.0, np.array([1.0])).tolist() == [0.0]  # expired at day 1
    assert ledger.advance(2 * 86400.0, np.array([1.5])).tolist() == pytest.approx([1.5])  # refilled 2
    assert ledger.balance.tolist() == pytest.approx([0.5])
