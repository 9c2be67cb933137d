"""When a recommendation waiting for a person is refreshed or withdrawn (pure; no store, no clock).

The live loop (``loop.EngineLoop``) and the backtest (``backtest.strategies.PlatformReplay``) both
follow these rules for a move waiting for review (decision ``AWAITING_APPROVAL``, MR open):

* **refresh**: the engine recommends the same move again, that move has now won every cycle of the
  stability window (``confidence.stability == 1.0``) while the waiting one had not, and its confidence
  grew by at least :data:`REFRESH_CONFIDENCE_GAIN`. The new decision is proposed afresh (the policy gate
  judges the new evidence; the older MR is superseded). Once: the refreshed decision has stability 1.0,
  so it can never be refreshed again.
* **withdraw**: for :func:`withdraw_after_cycles` consecutive cycles (a whole stability window) the
  move was not :func:`still_recommended` - the engine ranked another placement (or staying) first, or the
  move's net savings no longer cleared the savings bar: the MR is closed and the decision superseded, so
  a person approving hours later does not apply a move whose reason has gone. A cycle in which the same
  move still ranks first and pays, but confidence dipped under the bar, does not count: withdrawing then
  re-proposing it would only restart the reviewer's clock (seen in the backtest: 274-405 MRs a month).

Emergency decisions are neither refreshed nor withdrawn (the callers check ``decision.emergency``).
"""

from __future__ import annotations

from swen.domain.decision import Confidence

REFRESH_CONFIDENCE_GAIN = 0.10
"""Minimum confidence gain (absolute, on the 0..1 scale) for a waiting recommendation to be refreshed."""


def stronger_evidence(new_confidence: Confidence, waiting_confidence: Confidence) -> bool:
    """The same move, recommended again, is backed by clearly more evidence than the waiting one: its
    winner held the whole window (the waiting one's had not) and confidence grew by the gain."""
    return (
        new_confidence.stability >= 1.0 > waiting_confidence.stability
        and new_confidence.value >= waiting_confidence.value + REFRESH_CONFIDENCE_GAIN
    )


def still_recommended(
    best: str | None, net_savings_usd: float, waiting_target: str, min_savings_usd: float
) -> bool:
    """The engine still prefers the waiting move: its best placement this cycle is the waiting target
    (placement keys) and the move's net monthly savings still clear the bar."""
    return best == waiting_target and net_savings_usd > min_savings_usd


def withdraw_after_cycles(window_size: int) -> int:
    """Consecutive cycles without the same recommendation after which a waiting one is withdrawn: one
    stability window (``Settings.window_size`` live, ``EngineParams.stability_window`` in a backtest)."""
    return max(1, window_size)


def should_withdraw(cycles_not_recommended: int, window_size: int) -> bool:
    """True once the engine has not recommended the waiting move for a whole window."""
    return cycles_not_recommended >= withdraw_after_cycles(window_size)
