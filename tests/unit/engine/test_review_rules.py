"""The rule that decides whether a move waiting for review still counts as recommended this cycle."""

from __future__ import annotations

import pytest

from swen.engine.review_rules import should_withdraw, still_recommended

TARGET = "alibaba/us-west-1"


@pytest.mark.parametrize(
    ("migrate", "best", "expected"),
    [
        (True, TARGET, True),  # the engine recommends this very move
        (False, TARGET, False),  # still ranks first but misses a bar (confidence or savings)
        (True, "aws/us-west-2", False),  # the engine recommends another placement
        (False, "aws/us-east-1", False),  # staying ranks first again
        (False, None, False),  # no feasible candidate
    ],
)
def test_still_recommended(migrate: bool, best: str | None, expected: bool) -> None:
    assert still_recommended(migrate, best, TARGET) is expected


def test_withdraw_after_one_window() -> None:
    assert not should_withdraw(9, 10)
    assert should_withdraw(10, 10)
    assert should_withdraw(1, 0)  # a window of 0 still needs one cycle
