"""The replay's telemetry window: the engine's ``SampleWindow`` fed one trace row per step.

The platform replay (``strategies.PlatformReplay``) gives the engine a window updated with every pair's
sample at every step, in order. Two things are then known in advance, and :class:`TraceWindow` uses
them without changing what the engine reads:

* the samples are the trace's own (validated when it was built, ``SampleArrays.validate``), one per
  cell, all at the same newer time: :meth:`TraceWindow.observe` writes them as ``update_arrays`` would,
  without its per-call checks and de-duplication;
* the ring holds exactly the trace's last ``size`` latency rows, so the window p95 of every pair is a
  function of the trace alone: :meth:`TraceWindow.latency_p95` computes it for ``BLOCK_STEPS`` steps at
  a time from the trace (the largest and second largest of each step's window, then the same float64
  interpolation as ``engine.window``), instead of folding the whole ring at every step.

Anything else (an ``update``/``update_arrays`` call, a window larger than the small-window p95 handles)
falls back to ``SampleWindow``'s own code. ``tests/unit/backtest/test_trace_window.py`` checks both
against ``SampleWindow`` step by step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from swen.backtest.trace import Trace
from swen.domain.arrays import FloatArray, IntArray
from swen.domain.models import Placement
from swen.engine.window import SampleWindow, p95_from_top_two

BLOCK_STEPS = 64
"""Steps whose p95 is computed at once (temporaries: a few ``BLOCK_STEPS x pairs`` arrays)."""
SMALL_WINDOW = 21
"""Up to this size the p95 lies between the two largest samples (``engine.window.latency_p95``)."""


class TraceWindow(SampleWindow):
    """A ``SampleWindow`` whose cells are the trace's pairs, fed by :meth:`observe` (module docstring)."""

    def __init__(
        self,
        services: Sequence[str],
        placements: Sequence[Placement],
        size: int,
        *,
        trace: Trace,
        service_idx: IntArray,
        window_col: IntArray,
    ) -> None:
        super().__init__(services, placements, size)
        self._trace = trace
        self._flat = np.asarray(service_idx, dtype=np.intp) * len(self.placements) + np.asarray(
            window_col, dtype=np.intp
        )
        if np.unique(self._flat).size != self._flat.size:
            raise ValueError("two pairs map to one window cell")
        self._fed = 0
        """Steps observed, in order, and nothing else: the ring is the trace's last ``size`` rows."""
        self._pure = True
        self._block: tuple[int, int, FloatArray] | None = None

    def observe(
        self,
        t: int,
        ts: float,
        *,
        hourly_cost_usd: npt.NDArray[Any],
        latency_ms: npt.NDArray[Any],
        credits_usd: npt.NDArray[Any],
        gpu_availability: npt.NDArray[Any],
        availability: npt.NDArray[Any],
    ) -> None:
        """Step ``t``'s sample of every pair (in pair order), taken at ``ts`` (epoch seconds)."""
        if t != self._fed:
            self._pure = False
        flat = self._flat
        self._advance()
        newer = ts >= self.ts_last.ravel()[flat]
        take = flat if newer.all() else flat[newer]
        values = {
            "hourly_cost_usd": hourly_cost_usd,
            "latency_ms": latency_ms,
            "credits_usd": credits_usd,
            "gpu_availability": gpu_availability,
            "availability": availability,
        }
        for field, vals in values.items():
            arr = np.asarray(vals, dtype=np.float64)
            if field in self.ring:
                self.ring[field][self.cursor].ravel()[flat] = arr
            self.latest[field].ravel()[take] = arr if take is flat else arr[newer]
        self.ts_last.ravel()[take] = ts
        self._fed += 1

    def update_arrays(self, *args: Any, **kwargs: Any) -> None:
        self._pure = False
        super().update_arrays(*args, **kwargs)

    def latency_p95(self) -> FloatArray:
        if not self._pure or self.size > SMALL_WINDOW or self._fed == 0 or self.updates != self._fed:
            return super().latency_p95()
        t = self._fed - 1
        block = self._block
        if block is None or not block[0] <= t < block[1]:
            lo = t - t % BLOCK_STEPS
            hi = min(lo + BLOCK_STEPS, self._trace.steps)
            block = self._block = (lo, hi, window_p95(self._trace.latency_ms, lo, hi, self.size))
        out = np.full(self.ts_last.size, np.nan)
        out[self._flat] = block[2][t - block[0]]
        return out.reshape(self.ts_last.shape)


def window_p95(latency: npt.NDArray[np.float32], lo: int, hi: int, size: int) -> FloatArray:
    """``(hi - lo) x pairs``: at each step t, the p95 of rows ``max(0, t - size + 1) .. t`` of
    ``latency`` (float32), as ``engine.window._p95_small`` computes it from a ring of ``size`` slots
    holding them (NaN-free rows; ``size <= 21``)."""
    n_b, n_p = hi - lo, latency.shape[1]
    first = np.full((n_b, n_p), -np.inf, dtype=np.float32)
    second = first.copy()
    low = np.empty_like(first)
    for k in range(size):  # the sample k steps back; the largest two do not depend on the order
        start = max(lo - k, 0)
        if start >= hi - k:
            continue
        rows = latency[start : hi - k]
        into = slice(start + k - lo, n_b)
        np.minimum(first[into], rows, out=low[into])
        np.maximum(second[into], low[into], out=second[into])
        np.maximum(first[into], rows, out=first[into])
    steps = np.arange(lo, hi)
    count = np.minimum(steps + 1, size).astype(np.int16)[:, None]
    return p95_from_top_two(first, second, count)  # the engine's own interpolation, bit for bit
