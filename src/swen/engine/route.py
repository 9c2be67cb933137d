"""Which route a move will take at the policy gate, and whether its evidence is strong enough for it.

Pure (arrays in, arrays out); ``decide.evaluate`` calls :func:`judge_routes` once per cycle, so the live
loop and the backtest (both run ``evaluate``) follow the same rule. Issue 11, deliverable 4: "a move is
proposed once, when the evidence is strong enough for the route it will take".

* **The route** the gate is expected to take (``policies/gate.rego``): a move of a stateless service
  whose cost delta is under ``gate_bars.MAX_AUTO_COST_DELTA_PCT`` (5 %) can be auto-approved once its
  confidence is above ``EngineParams.auto_confidence`` (0.85); any other move (stateful, a large cost
  delta) always goes to a person, and is proposed as soon as its confidence clears the proposal bar
  (0.70).
* **Auto route, the gate's bar cleared, the engine's not yet: held for stronger evidence.** The gate
  auto-approves, no person looks at the move, so the engine proposes it only when its evidence
  stands clear of price noise as well: ``forecast.AdvantageState.evidence`` (``z``, how many standard
  errors the smoothed advantage stands clear of zero) at least ``EngineParams.auto_min_evidence``
  (5). Why: the engine picks the best of many noisy candidates for every service every cycle, so a
  fleet-month holds hundreds of thousands of comparisons and price noise alone puts a few of them
  4 standard errors clear of zero (the winner's curse); and a calibrated confidence of 0.86 pays back
  86 % of the time, so the auto-approved moves' share that pays back is about their mean confidence.
  Measured (docs/BENCHMARKS.md, section ``netpos``): the auto-approved net-positive share rose on
  gpu-squeeze from 94.5 % to 97.2 % and on noisy-flat from 94.4 % to 100 %, held elsewhere, at a cost
  of at most 0.014 of captured savings (price-duel), auto shares unchanged. A real price cut is
  barely delayed: its ``z`` grows with the hours of evidence (a 25 % cut clears 5 at once).
  The engine's confidence bar (``EngineParams.auto_propose_confidence``) is the other condition,
  by default the gate's bar itself: waiting for 0.90 or 0.92 did not raise the share where it fell
  short (calm-month 88 % -> 85 %: the same two small moves lost, proposed later at 0.96) and cut
  price-duel's auto share from 80 % to 53 %. Proposing a move held this way after
  ``manual_patience_s`` would not reach a person either (the gate would auto-approve it), so the
  patience rule does not apply to it: it waits until it clears the engine's bars or falls back below
  the gate's. Its explanation says so: "held for stronger evidence: the advantage stands 4.2
  standard errors clear of price noise, the engine waits for 5.0 before proposing a move the gate
  would auto-approve; waiting loses ~$6.60/day" (or, for the confidence bar, "confidence 0.86 clears
  the gate's 0.85 but not the 0.92 ...").
* **Auto route, confidence short of the gate's bar**: the move is held, not sent to a person, while
  its advantage is younger than ``manual_patience_s`` (a week; measured: moves sent to a person after
  4 h in that band paid back only 14-40 % of the time).
* **After the patience: the value of waiting.** Proposing now sends the move to a person; holding it
  waits for the confidence to clear the gate's bar (then it is proposed and auto-approved, no review).
  What holding can lose is the move's saving for as long as the advantage lasts::

      waiting_usd_per_day = bar_savings / 30.44      (the net monthly saving the proposal bar measures)
      at_stake_usd        = waiting_usd_per_day x days_mid   (the forecast's median remaining days)

  The move is proposed to a person only when ``at_stake_usd`` exceeds the cost of the person's review,
  ``EngineParams.review_cost_usd`` (``Settings.review_cost_usd``, default $100: about 40 minutes of a
  platform engineer at a loaded $150/hour, reading the cost table, the plan and the diff, approving and
  watching the apply). Otherwise it is **held**: "held: confidence 0.78 not above 0.85 for
  auto-approval; a review costs ~$100, waiting loses ~$3.50/day (~$44 over the 12.6 days the advantage
  is expected to last)". A held move is judged again every cycle: it is proposed (auto route) once its
  confidence clears the gate's bar, or to a person once a longer-lived advantage or a larger saving
  puts more at stake than a review costs. ``review_cost_usd = 0`` restores the earlier rule (every
  move in the band is proposed to a person after the patience).

* **A move for the service's sake is never held** (``service_move``: an SLO repair, where the current
  placement breaks the service's SLO and the move is to a candidate that meets it, or an emergency;
  ``decide``). Waiting costs SLO minutes or an outage, not dollars, and its evidence is not a price
  gap's, so neither the evidence bar, the patience nor the value of waiting applies: a repair whose
  confidence clears the proposal bar is proposed at once, to the gate (cost delta under 5 %,
  stateless, confidence above 0.85: auto-approved) or else to a person.

The saving lost is an upper bound of what waiting costs (the move may still clear the gate's bar before
the advantage ends) and it is not weighted by the confidence: the rule errs towards asking a person.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from swen.domain.arrays import BoolArray, FloatArray
from swen.domain.gate_bars import MAX_AUTO_COST_DELTA_PCT
from swen.engine.forecast import DAYS_PER_MONTH


@dataclass(frozen=True, eq=False)
class Routes:
    """Per service (length S): the expected route and whether the evidence suffices for it."""

    auto_route: BoolArray
    """The gate could auto-approve the move (stateless, cost delta under 5 %)."""
    route_ok: BoolArray
    """The evidence is strong enough for the route the move will take (module docstring)."""
    held: BoolArray
    """An auto-route move held: above the gate's bar but not above the engine's own
    (``awaiting_evidence``), or past its patience, short of the gate's bar, because a review would
    cost more than waiting loses (value of waiting)."""
    awaiting_evidence: BoolArray
    """An auto-route move whose confidence clears the gate's bar but not the engine's bars for
    proposing it (``auto_min_evidence``, ``auto_propose_confidence``): held for stronger evidence."""
    waiting_usd_per_day: FloatArray
    """The saving each day of holding the move loses (0 when it saves nothing)."""
    at_stake_usd: FloatArray
    """What holding it for the advantage's expected remaining days would lose."""


def judge_routes(
    *,
    stateful: BoolArray,
    cost_delta_pct: FloatArray,
    confidence: FloatArray,
    advantage_age_s: FloatArray,
    bar_savings: FloatArray,
    days_mid: FloatArray,
    auto_confidence: float,
    auto_propose_confidence: float,
    manual_patience_s: float,
    review_cost_usd: float,
    evidence: FloatArray,
    auto_min_evidence: float,
    service_move: BoolArray | None = None,
) -> Routes:
    """The route of every service's candidate move and whether it may be proposed now (docstring)."""
    auto_route = ~stateful & (cost_delta_pct < MAX_AUTO_COST_DELTA_PCT)
    gate_ok = confidence > auto_confidence
    clear_of_noise = np.nan_to_num(evidence, nan=0.0) >= auto_min_evidence
    auto_ok = gate_ok & (confidence > auto_propose_confidence) & clear_of_noise
    awaiting_evidence = auto_route & gate_ok & ~auto_ok
    patient = advantage_age_s >= manual_patience_s
    per_day = np.maximum(np.nan_to_num(bar_savings, nan=0.0), 0.0) / DAYS_PER_MONTH
    at_stake = per_day * np.maximum(np.nan_to_num(days_mid, nan=0.0), 0.0)
    worth_review = at_stake > review_cost_usd
    route_ok = ~auto_route | auto_ok | (~gate_ok & patient & worth_review)
    held = awaiting_evidence | (auto_route & ~gate_ok & patient & ~worth_review)
    if service_move is not None:  # waiting costs SLO minutes or an outage: never held (docstring)
        route_ok = route_ok | service_move
        held = held & ~service_move
        awaiting_evidence = awaiting_evidence & ~service_move
    return Routes(auto_route, route_ok, held, awaiting_evidence, per_day, at_stake)
