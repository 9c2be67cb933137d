"""Factor scores in [0, 1] (1 best) and the weighted total, vectorised over services x candidates.

All arrays are ``S x C`` (services x candidate placements); only *feasible* cells (no hard
constraint violated, see constraints.py) are compared with each other.

- **cost**: ``cheapest_feasible_monthly / monthly``. The cheapest feasible candidate of the service
  scores 1, one twice as expensive 0.5. A ratio (not min-max) so that a 3 % price difference moves the
  score by ~3 %, not from 0 to 1. A free candidate (monthly 0) scores 1.
- **latency**: ``clip((1 - p95 / SLO) / LATENCY_HEADROOM, 0, 1)`` with the window p95 latency and
  ``LATENCY_HEADROOM`` = 0.5: 1 while p95 uses at most half of the SLO, 0 at or beyond the SLO,
  linear in between. Latency well inside the SLO is not worth paying for: with the plain
  ``1 - p95/SLO`` a GPU service 20 ms closer to its users kept a placement costing $15k a month more.
- **credits**: ``min(1, credits_usd / (monthly x amortisation_months))``: the share of the candidate's
  cost over the amortisation period that its unused credits would pay. A free candidate scores 1.
- **availability**: ``availability``. GPU availability is not a score factor: it is a risk of the
  *target* (a move fails when the capacity is gone at apply time), counted in the confidence
  (``forecast.gpu_capacity_risk``); scoring it here counted ~0.8 against every target while the
  current placement, which holds its GPUs, scored 1.

``total = w_cost x cost + w_latency x latency + w_credits x credits + w_availability x availability``,
clipped to [0, 1]; infeasible cells get ``-inf`` so that ``argmax`` never picks them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from swen.domain.arrays import BoolArray, FloatArray, IntArray
from swen.domain.models import HOURS_PER_MONTH, Weights

LATENCY_HEADROOM = 0.5
"""Share of the SLO below which more latency headroom scores no better (see the module docstring)."""


@dataclass(frozen=True, eq=False)
class Scores:
    """Factor scores, weighted total and the best candidate of every service."""

    cost: FloatArray
    latency: FloatArray
    credits: FloatArray
    availability: FloatArray
    total: FloatArray
    """Weighted total, ``-inf`` where infeasible."""
    best_idx: IntArray
    """Index of the best feasible candidate, -1 when no candidate is feasible."""
    best_total: FloatArray
    """Total of the best candidate (``-inf`` when none)."""


def monthly_cost(hourly_usd: FloatArray, replicas: FloatArray) -> FloatArray:
    """Monthly cost per (service, candidate): hourly x 730 x replicas."""
    out: FloatArray = hourly_usd * (HOURS_PER_MONTH * replicas)[:, None]
    return out


def effective_availability(
    availability: FloatArray, gpu_availability: FloatArray, is_gpu: BoolArray, is_current: BoolArray
) -> FloatArray:
    """The availability factor's input: ``availability`` itself for every service (GPU availability is
    a risk of the target, counted in the confidence, not a score). Kept as the one place that says so."""
    del gpu_availability, is_gpu, is_current
    return availability


def score(
    *,
    monthly: FloatArray,
    p95_ms: FloatArray,
    credits_usd: FloatArray,
    availability: FloatArray,
    slo_ms: FloatArray,
    feasible: BoolArray,
    weights: Weights,
    amortisation_months: float,
) -> Scores:
    """Score every feasible (service, candidate) and pick each service's best candidate."""
    # Masks as arithmetic on one float copy of ``feasible`` (contiguous ufuncs are several times faster
    # than boolean-masked ops, and every fresh 4 MB temporary costs page faults): monthly / 0 = inf
    # keeps infeasible cells out of the min; later 1 - 1/0 = -inf keeps them out of the argmax.
    # ``fmin(x, 1)`` maps NaN (0/0, missing data) and inf (x/0) to 1: a free candidate scores 1 on
    # cost and credits, and a NaN total can never reach the argmax (NaN would win it).
    mask = feasible.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scratch = np.divide(monthly, mask)
        cheapest = np.fmin.reduce(scratch, axis=1, keepdims=True)
        np.divide(-1.0, mask, out=mask)
        mask += 1.0  # now the penalty: 0 where feasible, -inf elsewhere
        cost = np.divide(cheapest, monthly)
        np.fmin(cost, 1.0, out=cost)
        latency = np.divide(p95_ms, slo_ms[:, None])
        np.subtract(1.0, latency, out=latency)
        latency *= 1.0 / LATENCY_HEADROOM
        np.clip(latency, 0.0, 1.0, out=latency)
        credits = np.divide(credits_usd, monthly)
        credits *= 1.0 / amortisation_months
        np.fmin(credits, 1.0, out=credits)
    avail = np.clip(availability, 0.0, 1.0)
    w_cost, w_latency, w_credits, w_availability = weights.as_tuple()
    total = np.multiply(cost, w_cost)  # explicit passes, not BLAS: no thread pool contention
    np.multiply(latency, w_latency, out=scratch)
    total += scratch
    np.multiply(credits, w_credits, out=scratch)
    total += scratch
    np.multiply(avail, w_availability, out=scratch)
    total += scratch
    np.fmin(total, 1.0, out=total)
    total += mask
    best_idx = np.argmax(total, axis=1)
    best_total = np.take_along_axis(total, best_idx[:, None], axis=1)[:, 0]
    best_idx[np.isneginf(best_total)] = -1
    return Scores(
        cost=cost,
        latency=latency,
        credits=credits,
        availability=avail,
        total=total,
        best_idx=best_idx,
        best_total=best_total,
    )


def best_excluding(total: FloatArray, rows: IntArray, excluded_cols: IntArray) -> tuple[IntArray, FloatArray]:
    """Best feasible candidate of ``rows`` when each row's ``excluded_cols`` entry is ruled out too
    (used in emergencies: the best *other* candidate). Returns (index or -1, total or -inf)."""
    sub = total[rows].copy()
    ok = excluded_cols >= 0
    sub[np.flatnonzero(ok), excluded_cols[ok]] = -np.inf
    idx = np.argmax(sub, axis=1) if sub.size else np.zeros(0, dtype=np.intp)
    best = np.take_along_axis(sub, idx[:, None], axis=1)[:, 0] if sub.size else np.zeros(0)
    idx = np.where(np.isneginf(best), -1, idx)
    return idx.astype(np.intp), best
