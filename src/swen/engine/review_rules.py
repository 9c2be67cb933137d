"""When a move waiting for a person is withdrawn (pure; no store, no clock).

The live loop (``loop.EngineLoop``) and the backtest (``backtest.strategies.PlatformReplay``) both
follow these rules for a move waiting for review (decision ``AWAITING_APPROVAL``, MR open), through
``moves.review_policy``:

* **hysteresis, not churn**: a waiting move stays open while the engine still ranks its target first
  with a confidence above ``EngineParams.release_confidence`` (0.50: more likely right than wrong)
  and a positive net saving (:func:`still_worth_it`). Proposing needs more (confidence above
  ``min_confidence``, 0.70, and, for a move the gate could auto-approve, above ``auto_confidence``):
  the gap between the two bars is the hysteresis. A confidence hovering near 0.70 no longer closes
  the merge request and opens a new one with a new review clock (before issue 11 one GPU service had
  13 merge requests withdrawn in eight days).
* **withdraw**: for :func:`withdraw_after_cycles` consecutive cycles (a whole stability window) the
  waiting move was not worth it: the MR is closed and the decision superseded, so a person approving
  hours later does not apply a move whose reason has gone.
* the same move recommended again is **kept** (one real move, one merge request): no refresh.
* **target hysteresis**: a waiting move is not superseded, and does not count as "not worth it",
  when the engine's new first choice would save less than ``retarget_usd`` a month more than the
  waiting target (:func:`equivalent_target`; the design's $50/month savings bar). With near-equal
  targets (two regions within a few dollars) the first choice flips with price noise; before this
  rule every flip closed the waiting merge request and opened another one with a new review clock.

* **emergency target hysteresis**: an open emergency (waiting for a person, or in the pipeline) is
  kept while its target is still a healthy, feasible candidate (:func:`emergency_target_holds`),
  whichever healthy candidate now scores first. An emergency is about leaving an unhealthy
  placement, and every healthy target does that; two healthy targets of near-equal score swap first
  place with every sample. Before this rule a stateful service whose emergency waited four hours for
  a person had its merge request superseded ten times in three hours (provider-outages: 69 of 247 MRs
  superseded, 1.40 MRs per applied move). It is re-targeted, with a new MR, once its target is no
  longer feasible: the outage (or a quarantine, or an SLO breach) has reached it.

Emergency decisions are never withdrawn (the callers check ``decision.emergency``).
"""

from __future__ import annotations

from collections.abc import Iterable

from swen.domain.decision import ProviderScore
from swen.domain.models import Placement


def still_worth_it(
    best: str | None, waiting_target: str, confidence: float, net_savings_usd: float, release: float
) -> bool:
    """The waiting move still holds: its target (a placement key) ranks first, confidence is above the
    release bar and the move still saves money (``net_savings_usd``: the saving the proposal bar
    measures, ``Cycle.bar_savings``: net of the one-time cost, or before it for an SLO repair)."""
    return best == waiting_target and confidence > release and net_savings_usd > 0


def withdraw_after_cycles(window_size: int) -> int:
    """Consecutive cycles a waiting move must fail :func:`still_worth_it` before it is withdrawn: one
    stability window (``Settings.window_size`` live, ``EngineParams.stability_window`` in a backtest)."""
    return max(1, window_size)


def should_withdraw(cycles_not_worth_it: int, window_size: int) -> bool:
    """True once the waiting move has not been worth it for a whole window."""
    return cycles_not_worth_it >= withdraw_after_cycles(window_size)


RETARGET_USD = 50.0
"""The design's savings bar ($/month), reused as the margin a new target must beat a waiting one by."""


def equivalent_target(waiting_monthly_usd: float, best_monthly_usd: float, retarget_usd: float) -> bool:
    """A waiting move's target still serves: the engine's new first choice would save less than
    ``retarget_usd`` a month more than it, too little to close one review and open another."""
    return waiting_monthly_usd - best_monthly_usd < retarget_usd


def emergency_target_holds(held: Placement, ranking: Iterable[ProviderScore]) -> bool:
    """An open emergency's target still serves: it is among the feasible candidates the new emergency
    decision ranked (healthy, within its SLO, not quarantined) and is not where the service runs."""
    return any(c.placement.key == held.key and not c.is_current for c in ranking)
