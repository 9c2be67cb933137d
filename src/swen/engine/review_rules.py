"""When a recommendation waiting for a person is refreshed or withdrawn (pure; no store, no clock).

The live loop (``loop.EngineLoop``) and the backtest (``backtest.strategies.PlatformReplay``) both
follow these rules for a move waiting for review (decision ``AWAITING_APPROVAL``, MR open):

* **refresh**: the engine recommends the same move again, that move has now won every cycle of the
  stability window (``confidence.stability == 1.0``) while the waiting one had not, and its confidence
  grew by at least :data:`REFRESH_CONFIDENCE_GAIN`. The new decision is proposed afresh (the policy gate
  judges the new evidence; the older MR is superseded). Once: the refreshed decision has stability 1.0,
  so it can never be refreshed again.
* **withdraw**: for :func:`withdraw_after_cycles` consecutive cycles (a whole stability window) the
  engine did not recommend that same move (:func:`still_recommended`: MIGRATE to the same target, i.e.
  it ranks first *and* clears the confidence and savings bars): the MR is closed and the decision
  superseded, so a person approving hours later does not apply a move whose reason has gone.
  Measured in the backtest (200 services, 30 days, docs/BENCHMARKS.md): counting only cycles where
  another placement ranked first or the savings fell under the bar left stale marginal moves to be
  approved (price-war captured savings 0.26 instead of 0.70); the cost of this stricter rule is churn:
  moves hovering at the confidence bar are withdrawn and proposed again (1-2 MRs per service a month).

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


def still_recommended(recommends_move: bool, best: str | None, waiting_target: str) -> bool:
    """The engine recommends the waiting move this cycle: it decided MIGRATE (every bar cleared) and
    its best placement (a placement key) is the waiting target."""
    return recommends_move and best == waiting_target


def withdraw_after_cycles(window_size: int) -> int:
    """Consecutive cycles without the same recommendation after which a waiting one is withdrawn: one
    stability window (``Settings.window_size`` live, ``EngineParams.stability_window`` in a backtest)."""
    return max(1, window_size)


def should_withdraw(cycles_not_recommended: int, window_size: int) -> bool:
    """True once the engine has not recommended the waiting move for a whole window."""
    return cycles_not_recommended >= withdraw_after_cycles(window_size)
