"""The review policy: what to do with each recommendation and each move waiting for a person (pure).

One policy for the live loop (``loop.EngineLoop``) and the replay (``backtest.strategies``); the one
difference between them is explicit: :attr:`ReviewPolicy.live`. The live platform (and a replay with
``manual: live``) re-judges a move waiting for a person every cycle: it is withdrawn once the engine
has stopped backing it for a whole stability window, and superseded when another target is proposed.
The replay's other manual-review modes (``approve``/``reject``/``recheck``) leave a waiting move alone
until a simulated person acts, and tell the engine about it as a pending move.

Rules (``engine.review_rules`` holds them and their measured reasons):

* a recommendation for a service with no open move, or with an open move to another target, is
  **proposed** (its MR supersedes the older one), except that a move waiting for a person is kept
  while the new target would save less than ``retarget_usd`` a month more than its own (target
  hysteresis, ``review_rules.equivalent_target``);
* the same move already on its way is **kept**: one real move, one merge request (``REFRESH`` is no
  longer emitted; the engine proposes a move once, when the evidence suits its route);
* hysteresis: a waiting move is **withdrawn** only after ``window`` consecutive cycles in which it
  was not worth it (another target ranked first, confidence at or below ``release_confidence``, or no
  net saving); a dip below the proposal bar does not close it (emergencies are never withdrawn).
* **emergency target hysteresis**: an open emergency is kept, not superseded by another emergency
  decision, while its target is still a healthy candidate (``review_rules.emergency_target_holds``):
  it is re-targeted only when the outage (or a quarantine, or an SLO breach) reaches that target;
* a move a person chose (``swen place``) is **kept** whatever the engine recommends, except an
  emergency, and never withdrawn: only a person rejects it. The engine is told about it as pending.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from swen.domain.decision import Confidence, Decision
from swen.domain.models import Placement
from swen.engine import review_rules
from swen.engine.cycle import Cycle
from swen.engine.decide import EngineResult


class ReviewAction(StrEnum):
    PROPOSE = "propose"
    REFRESH = "refresh"
    """Not emitted since hysteresis replaced refreshes (kept so that older journals still read)."""
    KEEP = "keep"
    WITHDRAW = "withdraw"


@dataclass(frozen=True)
class OpenMove:
    """A move on its way for one service, as the policy sees it."""

    decision_id: str
    target: Placement
    waits_for_review: bool
    emergency: bool
    confidence: Confidence
    chosen_by_person: bool = False
    """A person chose it (``swen place``): the engine neither supersedes nor withdraws it."""


@dataclass
class ReviewPolicy:
    """Decides proposals, refreshes and withdrawals; keeps the per-service withdrawal counters."""

    window: int
    """Stability window (cycles): a waiting move not recommended this long is withdrawn."""
    live: bool = True
    """True: the live platform's rules. False: a replay mode where a simulated person decides."""
    stale: dict[str, int] = field(default_factory=dict)
    """Consecutive cycles each waiting move's service was not recommended that move."""
    retarget_usd: float = review_rules.RETARGET_USD
    """A waiting move gives way to another target only if that saves at least this much more a month."""

    def pending(self, open_moves: Mapping[str, OpenMove]) -> dict[str, Placement]:
        """The open moves the engine is told about (no second proposal for those services): every
        move the platform is carrying out, and (``live`` False) the ones waiting for a person too."""
        return {
            s: m.target
            for s, m in open_moves.items()
            if not (self.live and m.waits_for_review) or m.chosen_by_person
        }

    def on_recommendation(self, open_move: OpenMove | None, decision: Decision) -> ReviewAction:
        if open_move is not None and open_move.chosen_by_person and not decision.emergency:
            return ReviewAction.KEEP  # a person's choice stands until a person rejects it
        if open_move is None:
            return ReviewAction.PROPOSE
        if open_move.target == decision.target:
            return ReviewAction.KEEP
        if open_move.emergency and decision.emergency:
            if review_rules.emergency_target_holds(open_move.target, decision.ranking):
                return ReviewAction.KEEP  # any healthy target ends the emergency: one MR, one review
            return ReviewAction.PROPOSE  # the outage reached the open move's target: re-target
        if open_move.waits_for_review and not (open_move.emergency or decision.emergency):
            costs = {c.placement: c.monthly_cost_usd for c in decision.ranking}
            held, new = costs.get(open_move.target), costs.get(decision.target)
            if (
                held is not None
                and new is not None
                and review_rules.equivalent_target(held, new, self.retarget_usd)
            ):
                return ReviewAction.KEEP  # near-equal targets: one review, not one per flip
        return ReviewAction.PROPOSE

    def withdrawals(
        self, open_moves: Mapping[str, OpenMove], result: EngineResult, *, act: bool = True
    ) -> list[str]:
        """Services whose waiting move is withdrawn this cycle (``live`` only). Counts every waiting
        non-emergency move the cycle judged; a listed service's counter starts again. ``act`` False
        (automation paused): counts, lists nothing, so the withdrawal happens once acting again."""
        if not self.live:
            return []
        waiting = {
            s: m
            for s, m in open_moves.items()
            if m.waits_for_review and not m.emergency and not m.chosen_by_person
        }
        self.stale = {s: n for s, n in self.stale.items() if s in waiting}
        cycle = result.cycle
        out: list[str] = []
        for service, move in waiting.items():
            row = cycle.row_of.get(service)
            if row is None:
                continue
            best = int(cycle.target[row])
            best_key = cycle.fleet.placements[best].key if best >= 0 else None
            if best_key is not None and best_key != move.target.key:
                best_key = self._held_if_equivalent(cycle, row, best, move.target) or best_key
            wanted = review_rules.still_worth_it(
                best_key,
                move.target.key,
                float(cycle.confidence[row]),
                float(cycle.bar_savings[row]),  # the saving the proposal bar measured
                cycle.params.release_confidence,  # the hysteresis bar, from the engine's own params
            )
            self.stale[service] = 0 if wanted else self.stale.get(service, 0) + 1
            if act and review_rules.should_withdraw(self.stale[service], self.window):
                out.append(service)
        for service in out:
            del self.stale[service]
        return out

    def _held_if_equivalent(self, cycle: Cycle, row: int, best: int, held: Placement) -> str | None:
        """``held``'s key when the engine still wants a move (its first choice is not where the
        service runs), ``held`` is still a feasible candidate, and the first choice would save less
        than ``retarget_usd`` a month more than it (target hysteresis); else None."""
        col = cycle.fleet.column_of.get(held.key)
        if col is None or best == int(cycle.fleet.current_idx[row]) or int(cycle.flags[row, col]) != 0:
            return None
        waiting, first = float(cycle.monthly[row, col]), float(cycle.monthly[row, best])
        return held.key if review_rules.equivalent_target(waiting, first, self.retarget_usd) else None
