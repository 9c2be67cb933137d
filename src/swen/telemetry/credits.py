"""The credit book: the grants of a ledger file (``credit_file.py``) burnt interval by interval.

This is the one burn code. The live platform (``telemetry/ledger.py``, balances kept in the store)
and the backtest (``backtest/credits.py``, one book per strategy) both call :meth:`CreditBook.burn`
with what the services placed on each provider cost in the interval, so the two cannot drift.

Times are seconds since the book's ``origin`` (when the ledger starts: the live platform's first burn
interval, a replay's start); a grant's dates are converted once. Rules, per grant:

* it holds ``amount_usd`` from its start (``start``, or the origin) until it expires (``expires``, or
  ``expires_after_days`` after the start), when its balance goes to 0;
* a refill adds ``amount_usd`` every ``every_days`` after the start, while it has not expired;
* an opening balance sets the balance to ``usd`` at ``as_of`` (at the start when ``as_of`` is earlier,
  e.g. a grant that starts with the ledger);
* a provider's burn is taken from its active grants soonest expiry first (then in file order), never
  below 0; what no grant covers is paid at list price.

``advance(t)`` applies every grant event up to ``t`` (in time order, per grant), then ``burn`` takes
the interval's spend. ``expire_now`` ends a provider's grants at once (the simulator's
``credit_expiry`` scenario).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from swen.domain.arrays import FloatArray, Int64Array
from swen.telemetry.credit_file import Grant, grants_from_balances

_DAY_S = 86400.0

Credits = Sequence[Grant] | Mapping[str, Mapping[str, float | None]]
"""Grants, or the short per-provider form (``{aws: {balance_usd: 200, expires_after_days: 30}}``)."""


def as_grants(credits: Credits | None) -> tuple[Grant, ...]:
    if not credits:
        return ()
    if isinstance(credits, Mapping):
        return grants_from_balances(credits)
    return tuple(credits)


@dataclass
class GrantState:
    """One grant in the book: its dates in book seconds and its balance."""

    grant: Grant
    provider: int
    start_s: float
    expires_s: float
    refill_usd: float
    refill_every_s: float
    next_refill_s: float
    opening_s: float
    balance: float = 0.0
    started: bool = False
    opened: bool = False
    expired: bool = False

    @property
    def active(self) -> bool:
        return self.started and not self.expired

    @property
    def status(self) -> str:
        return "expired" if self.expired else ("active" if self.started else "pending")

    def advance(self, t: float) -> None:
        """Apply every event of this grant at or before ``t``, in time order."""
        while not self.expired:
            soonest = min(
                math.inf if self.started else self.start_s,
                self.next_refill_s if self.started else math.inf,
                math.inf if self.opened else self.opening_s,
                self.expires_s,
            )
            if soonest > t:  # nothing due (the common case: checked without building the events)
                return
            pending = [
                (self.start_s, 0) if not self.started else (math.inf, 0),
                (self.next_refill_s, 1) if self.started else (math.inf, 1),
                (self.opening_s, 2) if not self.opened else (math.inf, 2),
                (self.expires_s, 3),
            ]
            when, kind = min(pending, key=lambda e: (e[0], e[1] != 3))  # expiry first on a tie
            if when > t:
                return
            if kind == 0:
                self.started = True
                self.balance = self.grant.amount_usd
                if self.opening_s <= self.start_s and not self.opened:
                    self._open()
            elif kind == 1:
                self.balance += self.refill_usd
                self.next_refill_s += self.refill_every_s
            elif kind == 2:
                if self.started:
                    self._open()
                else:
                    self.opening_s = self.start_s  # applied when it starts
            else:
                self.expire()

    @property
    def spent(self) -> bool:
        """No credit can come from this grant any more: it expired, or it has started, holds nothing,
        has no opening balance still to apply and never refills."""
        return self.expired or (self.started and self.opened and self.balance <= 0 and self.refill_usd <= 0)

    def _open(self) -> None:
        assert self.grant.balance is not None
        self.balance = self.grant.balance.usd
        self.opened = True

    def expire(self) -> None:
        self.balance = 0.0
        self.expired = True
        self.started = True


class CreditBook:
    """Balances of ``grants`` indexed like ``providers``; grants of other providers are ignored."""

    def __init__(self, providers: Sequence[str], grants: Credits | None, origin: datetime) -> None:
        self.providers = list(providers)
        self.origin = origin
        position = {p: i for i, p in enumerate(self.providers)}
        self.grants: list[GrantState] = []
        for grant in as_grants(grants):
            if grant.provider in position:
                self.grants.append(self._state(grant, position[grant.provider]))
        # burn order: soonest expiry first, then file order (sorted is stable)
        self._order = sorted(range(len(self.grants)), key=lambda i: self.grants[i].expires_s)
        self._by_provider = [
            [i for i in self._order if self.grants[i].provider == p] for p in range(len(self.providers))
        ]
        self.t = -math.inf
        self.advance(0.0)

    def _seconds(self, when: datetime | None, default: float) -> float:
        return default if when is None else (when - self.origin).total_seconds()

    def _state(self, grant: Grant, provider: int) -> GrantState:
        start_s = self._seconds(grant.start, 0.0)
        start = grant.start or self.origin
        expires = grant.expires_at(start)
        refill = grant.refill
        every_s = refill.every_days * _DAY_S if refill is not None else math.inf
        return GrantState(
            grant=grant,
            provider=provider,
            start_s=start_s,
            expires_s=self._seconds(expires, math.inf),
            refill_usd=refill.amount_usd if refill is not None else 0.0,
            refill_every_s=every_s,
            next_refill_s=start_s + every_s,
            opening_s=self._seconds(grant.balance.as_of, math.inf) if grant.balance else math.inf,
            opened=grant.balance is None,
        )

    @property
    def balance(self) -> FloatArray:
        """Usable balance per provider (the active grants' sum)."""
        out: FloatArray = np.zeros(len(self.providers))
        for g in self.grants:
            if g.active:
                out[g.provider] += g.balance
        return out

    def balances(self) -> dict[str, float]:
        return dict(zip(self.providers, self.balance.tolist(), strict=True))

    def advance(self, t: float) -> None:
        """Apply the grants' starts, refills, opening balances and expiries up to ``t``."""
        for g in self.grants:
            g.advance(t)
        self.t = max(self.t, t)

    def burn(self, t: float, burn_usd: FloatArray) -> FloatArray:
        """Advance to ``t`` and take ``burn_usd`` per provider from its grants (soonest expiry first,
        never below 0). Returns the credit applied per provider, ``min(balance, burn)``: what the bill
        of that spend is reduced by (the rest is paid at list price)."""
        self.advance(t)
        applied: FloatArray = np.zeros(len(self.providers))
        for p, wanted in enumerate(np.maximum(np.asarray(burn_usd, dtype=np.float64), 0.0).tolist()):
            for i in self._by_provider[p]:
                if wanted <= 0:
                    break
                g = self.grants[i]
                if not g.active or g.balance <= 0:
                    continue
                take = min(g.balance, wanted)
                g.balance -= take
                wanted -= take
                applied[p] += take
        return applied

    @property
    def spent(self) -> bool:
        """No grant can apply credit any more (``GrantState.spent``): every burn from now on applies 0."""
        return all(g.spent for g in self.grants)

    def expire_now(self, provider_index: int) -> None:
        """Every grant of the provider ends now (a ``credit_expiry`` scenario)."""
        for g in self.grants:
            if g.provider == provider_index and g.started:
                g.expire()


def provider_burn(n_providers: int, provider: Int64Array, running_usd: FloatArray) -> FloatArray:
    """The spend per provider of services on ``provider`` costing ``running_usd`` each."""
    out: FloatArray = np.bincount(provider, weights=running_usd, minlength=n_providers).astype(np.float64)
    return out


def service_shares(
    applied: FloatArray, burn: FloatArray, provider: Int64Array, running_usd: FloatArray
) -> FloatArray:
    """The credit applied on each provider shared among its services in proportion to their spend."""
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(burn > 0, applied / burn, 0.0)
    out: FloatArray = running_usd * share[provider]
    return out
