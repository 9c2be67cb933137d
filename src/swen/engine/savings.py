"""Net monthly savings of a move, after credits and the one-time migration cost.

For a service moving from its current placement to a target (monthly = hourly x 730 x replicas)::

    gross          = current_monthly - target_monthly                     (> 0: the target is cheaper)
    credit_use(p)  = min(credits_usd(p) / amortisation_months, monthly(p))  credits spendable per month
    credits_offset = credit_use(target) - credit_use(current)
    migration_usd  = egress + downtime + risk of the move, paid once       (``migration_cost``)
    net            = gross + credits_offset - migration_usd / amortisation_months
    cost_delta_pct = (target_monthly - current_monthly) / current_monthly x 100   (negative = cheaper)

Credits are counted on both sides: a balance that is usable where the service already runs is not a
saving of the move (moving within one provider keeps the same credits, so they cancel out).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from swen.domain.arrays import FloatArray, IntArray
from swen.domain.decision import Savings
from swen.domain.errors import EngineError
from swen.domain.models import Placement

EgressPrice = Callable[[Placement, Placement], float]
"""USD per GB moved from the first placement to the second (the catalog's ``egress_usd_per_gb``)."""


def egress_per_gb(
    placements: Sequence[Placement],
    cur: IntArray,
    target: IntArray,
    lookup: EgressPrice,
    known: FloatArray | None = None,
) -> FloatArray:
    """Egress USD/GB from each service's current placement to its target (0 when not moving).

    ``cur``/``target`` are candidate indices (-1: none); each distinct pair is looked up once.
    ``known``: ``C x C`` prices already looked up with ``lookup`` (NaN: not yet;
    ``FleetArrays.egress_known``), read instead of calling ``lookup`` and filled with the pairs looked
    up here.
    """
    out = np.zeros(len(cur))
    moving = (cur >= 0) & (target >= 0) & (cur != target)
    if not moving.any():
        return out
    if known is not None:
        src, dst = cur[moving], target[moving]
        prices = known[src, dst]
        missing = np.isnan(prices)
        if missing.any():
            known[src[missing], dst[missing]] = egress_per_gb(placements, src[missing], dst[missing], lookup)
            prices = known[src, dst]
        out[moving] = prices
        return out
    n_c = len(placements)
    unique, inverse = np.unique(cur[moving] * n_c + target[moving], return_inverse=True)
    prices = np.empty(len(unique))
    for i, pair in enumerate(unique):
        src, dst = placements[int(pair) // n_c], placements[int(pair) % n_c]
        price = float(lookup(src, dst))
        if not np.isfinite(price) or price < 0:
            raise EngineError(
                f"egress price {src.key} -> {dst.key} is {price!r}",
                hint="the egress lookup must return a finite price >= 0 USD/GB",
            )
        prices[i] = price
    out[moving] = prices[inverse]
    return out


def credit_use(credits_usd: FloatArray, monthly: FloatArray, amortisation_months: float) -> FloatArray:
    out: FloatArray = np.minimum(credits_usd / amortisation_months, monthly)
    return out


@dataclass(frozen=True, eq=False)
class SavingsArrays:
    """Savings of moving each service to one target each, all arrays of length S."""

    current_monthly: FloatArray
    target_monthly: FloatArray
    gross: FloatArray
    credits_offset: FloatArray
    migration_usd: FloatArray
    net: FloatArray
    cost_delta_pct: FloatArray
    amortisation_months: float

    def at(self, i: int) -> Savings:
        return Savings.model_construct(
            current_monthly_usd=float(self.current_monthly[i]),
            target_monthly_usd=float(self.target_monthly[i]),
            gross_monthly_usd=float(self.gross[i]),
            credits_offset_monthly_usd=float(self.credits_offset[i]),
            migration_cost_usd=float(self.migration_usd[i]),
            amortisation_months=self.amortisation_months,
            net_monthly_usd=float(self.net[i]),
            cost_delta_pct=float(self.cost_delta_pct[i]),
        )


def net_savings(
    *,
    current_monthly: FloatArray,
    target_monthly: FloatArray,
    current_credits: FloatArray,
    target_credits: FloatArray,
    migration_usd: FloatArray,
    amortisation_months: float,
) -> SavingsArrays:
    """Savings arrays per the module formula (inputs are per service; NaN-free)."""
    gross = current_monthly - target_monthly
    offset = credit_use(target_credits, target_monthly, amortisation_months) - credit_use(
        current_credits, current_monthly, amortisation_months
    )
    net = gross + offset - migration_usd / amortisation_months
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(
            current_monthly > 0,
            (target_monthly - current_monthly) / current_monthly * 100.0,
            np.where(target_monthly > 0, 100.0, 0.0),
        )
    return SavingsArrays(
        current_monthly=current_monthly,
        target_monthly=target_monthly,
        gross=gross,
        credits_offset=offset,
        migration_usd=migration_usd,
        net=net,
        cost_delta_pct=delta,
        amortisation_months=amortisation_months,
    )
