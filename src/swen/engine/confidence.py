"""Confidence that moving is right, and the winner history it needs.

Formula (documented in docs/ARCHITECTURE.md too)::

    margin      = total(best) - total(current)            (current counts 0 when it is excluded)
    margin_term = 1 - exp(-max(margin, 0) / margin_scale)   (margin_scale = 0.03 by default)
    stability   = k / N   k = cycles among the last N (this one included) whose winner is this winner
    freshness   = share of the service's eligible candidates (residency + GPU model) with fresh data,
                  and 0 when the current placement's own data is stale or missing
    confidence  = margin_term x (0.5 + 0.5 x stability) x freshness          in [0, 1]

It rises with the margin (saturating: a margin of 0.03 gives a margin term of 0.63, 0.06 gives 0.86,
0.09 gives 0.95), rises with stability (a winner seen once weighs half as much as one that won every
cycle) and falls linearly with the share of stale or missing candidates.

Calibration of the scale: with the default weights a candidate 10 % cheaper and otherwise equal is
ahead by 0.04 (0.40 x 0.10), which should be a move the engine is fairly sure of once the winner has
held (0.74 with a stable winner); a 2-3 % difference (margin ~0.01) stays well below 0.70 (0.28 at
most). A brand-new winner gets at most 0.55 (stability 1/N), so a move needs a winner that has held
for most of the window: margin 0.06 needs 7 of 10 cycles, margin 0.10 needs 5 of 10.
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
