"""Each strategy's own credit balances: burnt by its own placements, counted in its own bill.

The credit ledger file (``SWEN_CREDITS_FILE``, the live platform's: ``telemetry/credit_file.py``)
gives the grants; ``CreditRun`` burns them through the live platform's burn code
(``telemetry.credits.CreditBook``, origin = the replay's start) for one strategy's placements, step by
step, so the backtest and the live ledger cannot drift (``tests/unit/telemetry/test_live_ledger.py``
checks that the same placements give the same balances on both paths):

* at step t the book advances to ``t x step_s`` (grant starts, refills, opening balances and expiry
  first), then burns the running cost of the step (hourly price x replicas x step hours) of every
  service on each provider; the credit applied on a provider is ``min(balance, burn)``;
* the credit applied on a provider is shared among its services in proportion to their running cost
  of that step; a service's bill for the step is its running cost minus its share;
* ``credit_expiry`` scenarios zero the provider's balance after that step's burn (as the simulator
  does).

The platform replay feeds the engine the balances of its own ``CreditRun``; accounting runs a fresh
``CreditRun`` over the finished path, which gives the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from swen.domain.arrays import FloatArray, Int64Array
from swen.telemetry.credits import CreditBook, Credits, provider_burn, service_shares
from swen.telemetry.scenarios import Scenario, ScenarioKind


@dataclass(frozen=True)
class CreditExpiry:
    """A ``credit_expiry`` scenario: the provider's balance goes to 0 at the first step in
    ``[start_s, end_s)``."""

    provider: str
    start_s: float
    end_s: float


def credit_expiries(scenarios: Sequence[Scenario]) -> tuple[CreditExpiry, ...]:
    return tuple(
        CreditExpiry(s.provider, s.start_offset_s, s.start_offset_s + s.duration_s)
        for s in scenarios
        if s.kind is ScenarioKind.CREDIT_EXPIRY
    )


class CreditRun:
    """One strategy's credit ledger over a replay."""

    def __init__(
        self,
        providers: Sequence[str],
        grants: Credits | None,
        expiries: Sequence[CreditExpiry],
        step_s: float,
        start: datetime,
    ) -> None:
        self.providers = list(providers)
        self.ledger = CreditBook(self.providers, grants, start)
        self.step_s = step_s
        self._expiries = [
            (self.providers.index(e.provider), e.start_s, e.end_s)
            for e in expiries
            if e.provider in self.providers
        ]
        self._fired = [False] * len(self._expiries)
        self.applied_total: FloatArray = np.zeros(len(self.providers))

    @property
    def balance(self) -> FloatArray:
        return self.ledger.balance

    def step(self, t: int, running_usd: FloatArray, provider: Int64Array) -> FloatArray:
        """Advance to step ``t`` and burn ``running_usd`` (per service, this step) on each service's
        provider; returns the credit applied to each service."""
        burn = provider_burn(len(self.providers), provider, running_usd)
        applied = self.burn_providers(t, burn)
        return service_shares(applied, burn, provider, running_usd)

    def burn_providers(self, t: int, burn: FloatArray) -> FloatArray:
        """Advance to step ``t`` and burn ``burn`` (per provider, this step); returns the credit applied
        per provider. What :meth:`step` does before sharing the credit among the services."""
        now = t * self.step_s
        applied = self.ledger.burn(now, burn)
        for i, (p, start, end) in enumerate(self._expiries):
            if not self._fired[i] and start <= now < end:
                self.ledger.expire_now(p)
                self._fired[i] = True
        self.applied_total += applied
        return applied

    @property
    def spent(self) -> bool:
        """No credit can be applied from here on, whatever is burnt (``CreditBook.spent``): a scenario's
        expiry only ends grants, it never adds credit."""
        return self.ledger.spent

    def agrees_with(self, other: CreditRun, tolerance_usd: float) -> bool:
        """Whether ``other`` (a copy of this run burnt differently) is in the same state: the same
        grants started, expired and refilled alike, balances within ``tolerance_usd``. From then on
        the same burns give the same credits."""
        if self._fired != other._fired:
            return False
        for a, b in zip(self.ledger.grants, other.ledger.grants, strict=True):
            if (a.started, a.expired, a.opened, a.next_refill_s) != (
                b.started,
                b.expired,
                b.opened,
                b.next_refill_s,
            ):
                return False
            if abs(a.balance - b.balance) > tolerance_usd:
                return False
        return True
