"""The hysteresis rule that decides whether a move waiting for review still holds this cycle."""

from __future__ import annotations

import pytest

from swen.engine.review_rules import should_withdraw, still_worth_it

TARGET = "alibaba/us-west-1"


@pytest.mark.parametrize(
    ("best", "confidence", "net", "expected"),
    [
        (TARGET, 0.90, 120.0, True),  # the engine backs this very move
        (TARGET, 0.62, 120.0, True),  # below the 0.70 proposal bar but above the 0.50 release bar: kept
        (TARGET, 0.50, 120.0, False),  # at the release bar: no longer more likely right than wrong
        (TARGET, 0.90, 0.0, False),  # the saving vanished
        ("aws/us-west-2", 0.95, 300.0, False),  # another placement ranks first
        (None, 0.0, 0.0, False),  # no feasible candidate
    ],
)
def test_still_worth_it(best: str | None, confidence: float, net: float, expected: bool) -> None:
    assert still_worth_it(best, TARGET, confidence, net, 0.50) is expected


def test_withdraw_after_one_window() -> None:
    assert not should_withdraw(9, 10)
    assert should_withdraw(10, 10)
    assert should_withdraw(1, 0)  # a window of 0 still needs one cycle
