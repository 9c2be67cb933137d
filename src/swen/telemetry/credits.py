"""Credit balances per provider: burn down with the cost of the services placed there, expire, refill."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from swen.domain.arrays import FloatArray
from swen.telemetry.fleet import CreditGrant

_DAY_S = 86400.0


class CreditLedger:
    """Balances indexed like ``providers``; times are simulated seconds since the simulation start."""

    def __init__(self, providers: Sequence[str], grants: Mapping[str, CreditGrant]) -> None:
        n = len(providers)
        self.balance: FloatArray = np.zeros(n)
        self._expires_at: FloatArray = np.full(n, np.inf)
        self._refill: FloatArray = np.zeros(n)
        self._refill_every: FloatArray = np.full(n, np.inf)
        self._next_refill: FloatArray = np.full(n, np.inf)
        for i, provider in enumerate(providers):
            grant = grants.get(provider)
            if grant is None:
                continue
            self.balance[i] = grant.balance_usd
            if grant.expires_after_days is not None:
                self._expires_at[i] = grant.expires_after_days * _DAY_S
            if grant.refill_every_days is not None and grant.refill_usd > 0:
                self._refill[i] = grant.refill_usd
                self._refill_every[i] = grant.refill_every_days * _DAY_S
                self._next_refill[i] = self._refill_every[i]

    def advance(self, t: float, burn_usd: FloatArray) -> FloatArray:
        """Move to time ``t``: expire, refill, then burn ``burn_usd`` per provider (never below 0).

        Returns the credit actually applied per provider, ``min(balance, burn)``: what the bill of the
        spend ``burn_usd`` is reduced by (the rest is paid at list price)."""
        expired = t >= self._expires_at
        self.balance[expired] = 0.0
        self._expires_at[expired] = np.inf
        due = t >= self._next_refill
        while due.any():
            self.balance[due] += self._refill[due]
            self._next_refill[due] += self._refill_every[due]
            due = t >= self._next_refill
        applied: FloatArray = np.minimum(self.balance, np.maximum(burn_usd, 0.0))
        self.balance = self.balance - applied
        return applied

    def expire_now(self, provider_index: int) -> None:
        self.balance[provider_index] = 0.0
        self._expires_at[provider_index] = np.inf
