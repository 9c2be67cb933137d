"""The rule that decides whether a move waiting for review still counts as recommended this cycle."""

from __future__ import annotations

import pytest

from swen.engine.review_rules import should_withdraw, still_recommended

TARGET = "alibaba/us-west-1"


@pytest.mark.parametrize(
    ("best", "net", "expected"),
    [
        (TARGET, 120.0, True),  # same move ranks first and pays (even if confidence dipped)
        (TARGET, 50.0, False),  # no longer clears the $50 bar (strict, like the engine)
        (TARGET, 50.01, True),
        ("aws/us-east-1", 120.0, False),  # staying ranks first again
        ("aws/us-west-2", 300.0, False),  # another placement ranks first
        (None, 0.0, False),  # no feasible candidate
    ],
)
def test_still_recommended(best: str | None, net: float, expected: bool) -> None:
    assert still_recommended(best, net, TARGET, 50.0) is expected


def test_withdraw_after_one_window() -> None:
    assert not should_withdraw(9, 10)
    assert should_withdraw(10, 10)
    assert should_withdraw(1, 0)  # a window of 0 still needs one cycle
