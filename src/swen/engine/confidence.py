"""Confidence that moving is right, and the winner history it needs.

Confidence is the probability that the move is still net positive after its payback horizon
(``calibration.HINDSIGHT_HORIZON_S``), calibrated on replays. It is computed in two steps::

    raw         = P(pays within the horizon) x P(advantage outlasts payback) x P(GPU capacity at the
                  target) x freshness
    confidence  = isotonic(raw)          (EngineParams.calibration; raw itself when there is none)

* ``P(pays within the horizon)`` (``forecast.forecast``): the probability that the advantage, smoothed
  over price noise (``forecast.AdvantageState``: exponentially weighted mean and its standard error),
  earns the move's one-time cost (egress, downtime and risk: ``migration_cost``) back within the
  horizon the confidence is defined on. It holds the evidence ``z`` (mean over standard error): a
  25 % cut is clear at once, a 2 % edge or a gap price noise just opened is not, and a saving that is
  clear but too small to pay for the downtime and risk in three days is not either;
* ``P(outlasts payback)`` (``forecast.forecast``): from the advantage's duration forecast and the
  move's payback time (one-time migration cost over the smoothed daily saving);
* ``P(GPU capacity)`` (``forecast.gpu_capacity_risk``): GPU availability is a risk *of the target*
  (the apply fails without capacity), never a penalty against the current placement;
* ``freshness``: share of the service's eligible candidates (residency + GPU model) with fresh data,
  0 when the current placement's own data is stale or missing.

The isotonic curve is fitted on replays of scenarios other than the one being scored (cross-fitted,
``scripts/calibrate_confidence.py``), so that "0.9" means nine in ten such moves paid back.

The score margin and the winner's stability (``k / N`` cycles of the window won by this winner) are
still computed and shown in every decision and explanation; they no longer multiply the confidence
(a brand-new winner with clear evidence needed the whole window before, and was proposed to a
person first). ``margin_term``/``confidence_value`` keep the former formula for reference
(``margin_term x (0.5 + 0.5 x stability) x freshness``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from swen.domain.arrays import FloatArray, IntArray

MARGIN_SCALE = 0.03
NO_WINNER = -1


def margin_term(margin: FloatArray | float, scale: float = MARGIN_SCALE) -> FloatArray:
    out: FloatArray = 1.0 - np.exp(-np.maximum(np.asarray(margin, dtype=np.float64), 0.0) / scale)
    return out


def raw_probability(
    pays_within_horizon: FloatArray | float,
    outlasts_payback: FloatArray | float,
    gpu_capacity: FloatArray | float,
    freshness: FloatArray | float,
) -> FloatArray:
    """``P(pays within horizon) x P(outlasts payback) x P(GPU capacity) x freshness`` in [0, 1]
    (module docstring)."""
    out: FloatArray = np.clip(
        np.prod(
            [
                np.clip(np.asarray(v, dtype=np.float64), 0.0, 1.0)
                for v in (pays_within_horizon, outlasts_payback, gpu_capacity, freshness)
            ],
            axis=0,
        ),
        0.0,
        1.0,
    )
    return out


def confidence_value(
    margin: FloatArray | float,
    stability: FloatArray | float,
    freshness: FloatArray | float,
    scale: float = MARGIN_SCALE,
) -> FloatArray:
    """``margin_term x (0.5 + 0.5 x stability) x freshness``, clipped to [0, 1]."""
    stab = np.clip(np.asarray(stability, dtype=np.float64), 0.0, 1.0)
    fresh = np.clip(np.asarray(freshness, dtype=np.float64), 0.0, 1.0)
    out: FloatArray = np.clip(margin_term(margin, scale) * (0.5 + 0.5 * stab) * fresh, 0.0, 1.0)
    return out


@dataclass(frozen=True, eq=False)
class WinnerHistory:
    """Winner (candidate index, -1 for none) of each service in the last cycles, oldest first.

    Plain data for the next cycle: keep the returned object in memory, or persist it with
    :meth:`to_dict` / :meth:`from_dict` (keys instead of indices).
    """

    services: tuple[str, ...]
    placement_keys: tuple[str, ...]
    winners: npt.NDArray[np.int32]
    """``S x N`` array of candidate indices."""

    @classmethod
    def empty(cls, services: Sequence[str], placement_keys: Sequence[str], size: int) -> WinnerHistory:
        winners = np.full((len(services), size), NO_WINNER, dtype=np.int32)
        return cls(tuple(services), tuple(placement_keys), winners)

    @property
    def size(self) -> int:
        return int(self.winners.shape[1])

    def aligned(self, services: Sequence[str], placement_keys: Sequence[str], size: int) -> WinnerHistory:
        """This history re-indexed for another service/candidate order and window size."""
        services, placement_keys = tuple(services), tuple(placement_keys)
        if services == self.services and placement_keys == self.placement_keys and size == self.size:
            return self
        out = WinnerHistory.empty(services, placement_keys, size)
        new_col = {k: i for i, k in enumerate(placement_keys)}
        remap = np.array(
            [new_col.get(k, NO_WINNER) for k in self.placement_keys] + [NO_WINNER], dtype=np.int32
        )
        old_row = {s: i for i, s in enumerate(self.services)}
        keep = min(size, self.size)
        for i, name in enumerate(services):
            j = old_row.get(name)
            if j is not None and keep:
                out.winners[i, size - keep :] = remap[self.winners[j, self.size - keep :]]
        return out

    def pushed(self, winners_now: IntArray) -> WinnerHistory:
        """A new history with this cycle's winners appended (the oldest cycle drops out)."""
        winners = np.empty_like(self.winners)
        winners[:, :-1] = self.winners[:, 1:]
        winners[:, -1] = winners_now
        return WinnerHistory(self.services, self.placement_keys, winners)

    def stability(self, winners_now: IntArray) -> tuple[IntArray, int]:
        """(k, N): in how many of the last N cycles (``winners`` must already include this cycle) each
        service's current winner won. k is 0 when there is no winner."""
        same = (self.winners == winners_now[:, None]) & (winners_now[:, None] != NO_WINNER)
        return np.count_nonzero(same, axis=1).astype(np.intp), self.size

    def to_dict(self) -> dict[str, Any]:
        keys = list(self.placement_keys)
        return {
            "size": self.size,
            "winners": {
                name: [keys[int(c)] if c != NO_WINNER else None for c in row]
                for name, row in zip(self.services, self.winners, strict=True)
            },
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], services: Sequence[str], placement_keys: Sequence[str], size: int
    ) -> WinnerHistory:
        col = {k: i for i, k in enumerate(placement_keys)}
        out = cls.empty(services, placement_keys, size)
        rows: Mapping[str, Sequence[str | None]] = data.get("winners", {})
        for i, name in enumerate(out.services):
            row = list(rows.get(name, ()))[-size:]
            for j, key in enumerate(row):
                out.winners[i, size - len(row) + j] = col.get(key, NO_WINNER) if key else NO_WINNER
        return out
