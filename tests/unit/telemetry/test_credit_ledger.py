"""The credit book (the one burn code) and the credit ledger file's validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from swen.domain.errors import ConfigError
from swen.telemetry.credit_file import Grant, default_ledger_path, load_credit_ledger
from swen.telemetry.credits import CreditBook

T0 = datetime(2026, 12, 1, tzinfo=UTC)
DAY = 86400.0


def grant(**kw: object) -> Grant:
    return Grant.model_validate({"provider": "aws", "amount_usd": 10.0, "name": "g", **kw})


def test_burn_returns_the_credit_applied_never_more_than_the_balance() -> None:
    book = CreditBook(["aws", "gcp"], [grant(expires_after_days=1)], T0)
    applied = book.burn(0.0, np.array([4.0, 3.0]))
    assert applied.tolist() == [4.0, 0.0]  # gcp has no grant: everything paid at list price
    assert book.balance.tolist() == [6.0, 0.0]
    applied = book.burn(60.0, np.array([9.0, 0.0]))
    assert applied.tolist() == [6.0, 0.0]
    assert book.balance.tolist() == [0.0, 0.0]


def test_expiry_comes_before_the_burn_and_ends_the_refills() -> None:
    g = grant(amount_usd=5.0, expires_after_days=3, refill={"amount_usd": 2.0, "every_days": 1})
    book = CreditBook(["aws"], [g], T0)
    assert book.burn(0.0, np.array([4.0])).tolist() == [4.0]  # 1 left
    assert book.burn(DAY, np.array([0.5])).tolist() == [0.5]  # refilled 2 at day 1: 2.5 left
    assert book.balance.tolist() == pytest.approx([2.5])
    assert book.burn(2 * DAY, np.array([0.0])).tolist() == [0.0]
    assert book.balance.tolist() == pytest.approx([4.5])  # refilled at day 2
    assert book.burn(3 * DAY, np.array([1.0])).tolist() == [0.0]  # expired at day 3, no refill then
    assert book.burn(10 * DAY, np.array([1.0])).tolist() == [0.0]
    assert book.grants[0].status == "expired"


def test_absolute_dates_opening_balance_and_pending_grants() -> None:
    g = grant(
        amount_usd=100.0,
        start="2026-12-03",
        expires="2026-12-10",
        balance={"usd": 40.0, "as_of": "2026-12-05"},
    )
    book = CreditBook(["aws"], [g], T0)
    assert book.balance.tolist() == [0.0] and book.grants[0].status == "pending"
    book.burn(2 * DAY, np.array([30.0]))  # starts at day 2: 100 - 30
    assert book.balance.tolist() == [70.0]
    book.burn(4 * DAY, np.array([5.0]))  # the console said 40 on day 4: 40 - 5
    assert book.balance.tolist() == [35.0]
    book.burn(9 * DAY, np.array([5.0]))  # expired on day 9
    assert book.balance.tolist() == [0.0]


def test_the_soonest_expiring_grant_burns_first() -> None:
    late = grant(name="late", amount_usd=10.0, expires_after_days=30)
    soon = grant(name="soon", amount_usd=10.0, expires_after_days=2)
    book = CreditBook(["aws"], [late, soon], T0)
    book.burn(0.0, np.array([12.0]))
    by_name = {g.grant.name: g.balance for g in book.grants}
    assert by_name == {"soon": 0.0, "late": 8.0}
    book.burn(2 * DAY, np.array([0.0]))
    assert book.balance.tolist() == [8.0]  # nothing of "soon" left to lapse


def test_a_book_is_spent_only_once_no_grant_can_apply_credit_again() -> None:
    used_up = CreditBook(["aws"], [grant(amount_usd=5.0, expires_after_days=30)], T0)
    assert not used_up.spent
    used_up.burn(0.0, np.array([5.0]))
    assert used_up.spent  # nothing left and no refill: every burn from now on applies 0
    refilled = CreditBook(
        ["aws"],
        [grant(amount_usd=5.0, expires_after_days=30, refill={"amount_usd": 2.0, "every_days": 1})],
        T0,
    )
    refilled.burn(0.0, np.array([5.0]))
    assert not refilled.spent  # empty, but a refill is due
    refilled.burn(30 * DAY, np.array([0.0]))
    assert refilled.spent  # expired
    pending = CreditBook(["aws"], [grant(start="2026-12-03", expires="2026-12-10")], T0)
    assert not pending.spent  # not started yet
    opening = CreditBook(
        ["aws"],
        [grant(amount_usd=5.0, expires="2026-12-10", balance={"usd": 4.0, "as_of": "2026-12-05"})],
        T0,
    )
    opening.burn(0.0, np.array([5.0]))
    assert not opening.spent  # the console's balance on day 4 is still to come
    opening.burn(4 * DAY, np.array([0.0]))
    assert opening.balance.tolist() == [4.0]


def test_the_packaged_ledger_matches_the_old_fleet_grants() -> None:
    ledger = load_credit_ledger()
    assert default_ledger_path().parent.name == "data"
    grants = {g.provider: (g.amount_usd, g.expires_after_days, g.start) for g in ledger.grants}
    assert grants == {"aws": (200, 30, None), "alibaba": (60, 60, None), "gcp": (100, 90, None)}


def _load_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "credits.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_credit_ledger(path)
    return str(err.value)


GOOD = "  - provider: aws\n    amount_usd: 10\n"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            "  - provider: oracle\n    amount_usd: 10\n",
            "grants[1] (line 4).provider: unknown provider 'oracle': use one of",
        ),
        (
            "  - provider: aws\n    amount_usd: -5\n",
            "grants[1] (line 4).amount_usd: Input should be greater than or equal to 0",
        ),
        (
            "  - provider: aws\n    amount_usd: 5\n    start: 2026-12-10\n    expires: 2026-12-01\n",
            "grants[1] (line 4): expires 2026-12-01 is not after the start 2026-12-10",
        ),
        (
            "  - provider: aws\n    amount_usd: 5\n    expires: 2026-12-10\n    expires_after_days: 3\n",
            "give expires or expires_after_days, not both",
        ),
        (
            "  - provider: aws\n    amount_usd: 5\n    start: 2026-12-01T10:00:00\n",
            "has no time zone; add Z (UTC) or +hh:mm",
        ),
        ("  - provider: aws\n    amount_usd: 5\n    amount: 3\n", "grants[1] (line 4).amount: Extra inputs"),
        ("  - provider: aws\n    amount_usd: 5\n    name: aws-1\n", "'aws-1' is already used by grants[0]"),
    ],
)
def test_bad_grants_name_the_line_the_field_and_the_fix(tmp_path: Path, entry: str, expected: str) -> None:
    message = _load_error(tmp_path, "grants:\n" + GOOD + entry)
    assert expected in message
    assert str(tmp_path / "credits.yaml") in message


def test_bad_files(tmp_path: Path) -> None:
    assert "grants: must be a list" in _load_error(tmp_path, "grants: {aws: 1}\n")
    assert "services: unknown top-level key" in _load_error(tmp_path, "services: []\n")
    assert "must be a mapping" in _load_error(tmp_path, "- 1\n")
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_credit_ledger(path).grants == ()


def test_a_date_is_midnight_utc() -> None:
    g = grant(start="2026-12-03", expires_after_days=1.5)
    assert g.start == datetime(2026, 12, 3, tzinfo=UTC)
    assert g.expires_at(g.start) == datetime(2026, 12, 4, 12, tzinfo=UTC)
    assert grant(start="2026-12-03T05:00:00+02:00").start == datetime(2026, 12, 3, 3, tzinfo=UTC)
    assert (T0 + timedelta(days=1)).tzinfo is UTC
