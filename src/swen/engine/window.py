"""The engine's in-memory view of recent telemetry, as dense numpy arrays.

Layout: ``services x candidates`` (``S x C``) for the latest value of every field, and
``window x services x candidates`` (``W x S x C``, float32) ring buffers holding the last ``W``
updates of the fields that need history: by default only ``latency_ms``, whose window p95 the engine
scores (``history_fields`` keeps more, at 4 bytes x S x C x W each).

One call to :meth:`SampleWindow.update` / :meth:`SampleWindow.update_arrays` is one slot of the ring
(one cycle): every cell gets a fresh, empty (NaN) slot and the cycle's samples fill it; a cell without
a sample in that cycle keeps a NaN there. Within one update the newest sample of a cell (by timestamp)
wins, and a sample older than what the cell already holds never replaces the latest values (late data
is kept in the ring only).

Freshness: ``ts_last`` holds the epoch seconds of the newest sample of each cell (``-inf`` when the
cell never had one), so ``now - ts_last`` is the age used for stale/missing data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from swen.domain.arrays import BoolArray, FloatArray, IntArray
from swen.domain.errors import EngineError
from swen.domain.models import Placement, TelemetrySample
from swen.domain.sample_columns import SampleColumns

FIELDS: tuple[str, ...] = (
    "hourly_cost_usd",
    "latency_ms",
    "credits_usd",
    "gpu_availability",
    "availability",
    "error_rate",
)
"""Numeric telemetry fields kept per cell (latest value) and per slot (ring buffer)."""


class SampleWindow:
    """Latest values and the last ``size`` cycles of telemetry for every (service, candidate)."""

    def __init__(
        self,
        services: Sequence[str],
        placements: Sequence[Placement],
        size: int,
        *,
        history_fields: Sequence[str] = ("latency_ms",),
    ) -> None:
        if size < 1:
            raise EngineError(f"window size must be >= 1, got {size}", hint="set SWEN_WINDOW_SIZE >= 1")
        if len(set(services)) != len(services):
            raise EngineError("duplicate service names in the window", hint="pass each service once")
        keys = [p.key for p in placements]
        if len(set(keys)) != len(keys):
            raise EngineError("duplicate candidate placements in the window", hint="pass each placement once")
        unknown = sorted(set(history_fields) - set(FIELDS))
        if unknown or "latency_ms" not in history_fields:
            raise EngineError(
                f"bad history fields {list(history_fields)}",
                hint=f"choose among {', '.join(FIELDS)}; latency_ms is required (p95)",
            )
        self.services: tuple[str, ...] = tuple(services)
        self.placements: tuple[Placement, ...] = tuple(placements)
        self.placement_keys: tuple[str, ...] = tuple(keys)
        self.service_index: dict[str, int] = {name: i for i, name in enumerate(self.services)}
        self.placement_index: dict[str, int] = {key: i for i, key in enumerate(keys)}
        self.size = size
        n_s, n_c = len(self.services), len(self.placements)
        self.latest: dict[str, FloatArray] = {f: np.full((n_s, n_c), np.nan) for f in FIELDS}
        self.ring: dict[str, npt.NDArray[np.float32]] = {
            f: np.full((size, n_s, n_c), np.nan, dtype=np.float32) for f in history_fields
        }
        self.ts_last: FloatArray = np.full((n_s, n_c), -np.inf)
        self.simulated: BoolArray = np.zeros((n_s, n_c), dtype=bool)
        self.instance_type: npt.NDArray[np.object_] = np.full((n_s, n_c), "", dtype=object)
        self.cursor = -1
        """Ring slot written by the latest update (-1 before the first)."""
        self.updates = 0

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.services), len(self.placements)

    # --- updates -----------------------------------------------------------------------------
    def update(self, samples: Iterable[TelemetrySample]) -> int:
        """Add one cycle of samples; returns how many were accepted (unknown service/placement skipped).
        The samples are turned into columns once (``SampleColumns.from_samples``): one path with
        :meth:`update_columns`."""
        return self.update_columns(SampleColumns.from_samples(samples))

    def update_columns(self, columns: SampleColumns) -> int:
        """Add one cycle of samples given as columns (``Store.sample_columns_between``, or
        :meth:`update`'s samples); returns how many were accepted (unknown service/placement skipped)."""
        s_index, p_index = self.service_index, self.placement_index
        s_idx = [s_index.get(name, -1) for name in columns.service]
        c_idx = [p_index.get(f"{p}/{r}", -1) for p, r in zip(columns.provider, columns.region, strict=True)]
        s_arr, c_arr = np.asarray(s_idx, dtype=np.intp), np.asarray(c_idx, dtype=np.intp)
        keep = np.flatnonzero((s_arr >= 0) & (c_arr >= 0))
        if not keep.size:
            self._advance()
            return 0
        ts = np.asarray(columns.epoch_seconds(), dtype=np.float64)

        def col(values: Sequence[Any], dtype: Any = np.float64) -> Any:
            return np.asarray(values, dtype=dtype)[keep]

        self.update_arrays(
            s_arr[keep],
            c_arr[keep],
            ts=ts[keep],
            hourly_cost_usd=col(columns.hourly_cost_usd),
            latency_ms=col(columns.latency_ms),
            credits_usd=col(columns.credits_usd),
            gpu_availability=col(columns.gpu_availability),
            availability=col(columns.availability),
            error_rate=col(columns.error_rate),
            simulated=col(columns.simulated_price, bool),
            instance_type=list(col(columns.instance_type, object)),
        )
        return int(keep.size)

    def update_arrays(
        self,
        service_idx: IntArray,
        candidate_idx: IntArray,
        *,
        ts: FloatArray,
        hourly_cost_usd: FloatArray,
        latency_ms: FloatArray,
        credits_usd: FloatArray,
        gpu_availability: FloatArray,
        availability: FloatArray,
        error_rate: FloatArray | None,
        simulated: BoolArray | None = None,
        instance_type: Sequence[str] | npt.NDArray[np.object_] | None = None,
    ) -> None:
        """Add one cycle of samples given as parallel arrays (indices into services/placements).

        ``error_rate=None``: the source does not report error rates (the backtest's trace does not keep
        them: the engine's cycle never reads them); the cells keep what they held."""
        n_s, n_c = self.shape
        s_idx = np.asarray(service_idx, dtype=np.intp)
        c_idx = np.asarray(candidate_idx, dtype=np.intp)
        if s_idx.size and (s_idx.min() < 0 or s_idx.max() >= n_s or c_idx.min() < 0 or c_idx.max() >= n_c):
            raise EngineError(
                "sample index out of range", hint="use indices from service_index/placement_index"
            )
        values = {
            "hourly_cost_usd": hourly_cost_usd,
            "latency_ms": latency_ms,
            "credits_usd": credits_usd,
            "gpu_availability": gpu_availability,
            "availability": availability,
        }
        if error_rate is not None:
            values["error_rate"] = error_rate
        _check_columns(s_idx, c_idx, ts, values, simulated, instance_type)
        flat = s_idx * n_c + c_idx
        order = _newest_per_cell(flat, ts)
        if order is not None:
            flat, ts = flat[order], ts[order]
            values = {k: np.asarray(v)[order] for k, v in values.items()}
            simulated = None if simulated is None else np.asarray(simulated)[order]
            instance_type = None if instance_type is None else [instance_type[i] for i in order]
        self._advance()
        newer = ts >= self.ts_last.ravel()[flat]
        take = flat[newer]
        for field, vals in values.items():
            arr = np.asarray(vals, dtype=np.float64)
            if field in self.ring:
                self.ring[field][self.cursor].ravel()[flat] = arr
            self.latest[field].ravel()[take] = arr[newer]
        self.ts_last.ravel()[take] = ts[newer]
        if simulated is not None:
            self.simulated.ravel()[take] = np.asarray(simulated, dtype=bool)[newer]
        if instance_type is not None:
            names = np.asarray(instance_type, dtype=object)
            self.instance_type.ravel()[take] = names[newer]

    def _advance(self) -> None:
        self.cursor = (self.cursor + 1) % self.size
        self.updates += 1
        for ring in self.ring.values():
            ring[self.cursor] = np.nan

    def resized(
        self, services: Sequence[str], placements: Sequence[Placement], size: int | None = None
    ) -> SampleWindow:
        """A new window for another fleet or candidate set (or window size), keeping the data of the
        services and placements both have (the newest ``size`` cycles of the ring)."""
        size = self.size if size is None else size
        new = SampleWindow(services, placements, size, history_fields=tuple(self.ring))
        old_rows, new_rows = _common(self.services, new.services)
        old_cols, new_cols = _common(self.placement_keys, new.placement_keys)
        old_cells, new_cells = np.ix_(old_rows, old_cols), np.ix_(new_rows, new_cols)
        for field in FIELDS:
            new.latest[field][new_cells] = self.latest[field][old_cells]
        new.ts_last[new_cells] = self.ts_last[old_cells]
        new.simulated[new_cells] = self.simulated[old_cells]
        new.instance_type[new_cells] = self.instance_type[old_cells]
        kept = min(size, self.size, self.updates)
        if kept:
            oldest_first = [(self.cursor - kept + 1 + j) % self.size for j in range(kept)]
            for field, ring in self.ring.items():
                for j, slot in enumerate(oldest_first):
                    new.ring[field][j][new_cells] = ring[slot][old_cells]
            new.cursor = kept - 1
        new.updates = self.updates
        return new

    # --- reads -------------------------------------------------------------------------------
    def age_s(self, now: datetime) -> FloatArray:
        """Seconds since the newest sample of each cell (``inf`` when there never was one)."""
        return now.timestamp() - self.ts_last

    def latency_p95(self) -> FloatArray:
        """p95 of the latency samples in the window per cell (linear interpolation, NaN if none).

        Same definition as ``numpy.nanpercentile(..., 95)`` (method "linear"). For ``n <= 21`` samples
        the 95th percentile lies between the two largest (``0.95 (n - 1) >= n - 2``), so small windows
        need only a running max and second max over the slots; larger windows sort.

        Only cells that ever had a sample can hold one in the ring (``ts_last > -inf``); when they are
        a minority (a fleet sampling a few of many placements per service, as in a backtest), the p95
        is computed on those cells alone and the others are NaN.
        """
        ring = self.ring["latency_ms"]
        p95_of = _p95_by_sort if self.size > 21 else _p95_small
        n_cells = self.ts_last.size
        cells = np.flatnonzero(self.ts_last.ravel() > -np.inf)
        if 2 * cells.size > n_cells:
            return p95_of(ring)
        out = np.full(n_cells, np.nan)
        out[cells] = p95_of(ring.reshape(self.size, n_cells)[:, cells])
        return out.reshape(self.ts_last.shape)

    def latency_count_above(self, rows: IntArray, cols: IntArray, limit_ms: FloatArray) -> IntArray:
        """How many of the ring's ``size`` latency slots of cell ``(rows[k], cols[k])`` hold a sample
        above ``limit_ms[k]`` (an empty slot counts as not above; ``cols[k] < 0``: 0). Reads ``W x K``
        values: meant for a few cells per service (its current placement), not the whole grid."""
        rows = np.asarray(rows, dtype=np.intp)
        cols = np.asarray(cols, dtype=np.intp)
        out = np.zeros(len(rows), dtype=np.intp)
        have = cols >= 0
        if not have.any():
            return out
        values = self.ring["latency_ms"][:, rows[have], cols[have]]
        with np.errstate(invalid="ignore"):  # NaN (an empty slot) compares False
            out[have] = np.count_nonzero(values > np.asarray(limit_ms)[have], axis=0)
        return out


def _p95_small(ring: npt.NDArray[np.float32]) -> FloatArray:
    """p95 over the first axis of a ring of at most 21 slots (``SampleWindow.latency_p95``)."""
    first = np.full(ring.shape[1:], -np.inf, dtype=np.float32)
    second = first.copy()
    count = np.zeros(ring.shape[1:], dtype=np.int16)
    value = np.empty_like(first)
    low = np.empty_like(first)
    for slot in ring:
        present = ~np.isnan(slot)
        count += present
        np.copyto(value, slot)
        value[~present] = -np.inf
        np.minimum(first, value, out=low)
        np.maximum(second, low, out=second)
        np.maximum(first, value, out=first)
    p95 = p95_from_top_two(first, second, count)
    p95[count == 0] = np.nan
    return p95


def p95_from_top_two(
    first: npt.NDArray[np.float32], second: npt.NDArray[np.float32], count: npt.NDArray[np.int16]
) -> FloatArray:
    """numpy's linear-interpolation p95 of ``count`` samples (at most 21) from their largest two
    (``first`` >= ``second``; with 21 or fewer samples the p95 lies between them), in float64 like numpy,
    reusing buffers (each temporary is 4 MB at 10,000 x 50). ``count`` broadcasts against the values.
    Shared by ``_p95_small`` and the backtest's ``trace_window.window_p95``, which must agree bit for bit.
    Cells with ``count == 0`` come out as garbage (-inf - -inf): the caller masks them."""
    pos = count.astype(np.float64)
    pos -= 1.0
    np.maximum(pos, 0.0, out=pos)
    pos *= 0.95
    floor = np.floor(pos)
    lo_is_second = floor < count - 1
    frac = np.subtract(pos, floor, out=pos)
    p95: FloatArray = np.where(lo_is_second, second, first).astype(np.float64)
    spread = first.astype(np.float64)
    with np.errstate(invalid="ignore"):  # cells without samples: -inf - -inf
        spread -= p95
        spread *= frac
        p95 += spread
    return p95


def _p95_by_sort(ring: npt.NDArray[np.float32]) -> FloatArray:
    ordered = np.sort(ring, axis=0)  # NaN sort last
    count = np.count_nonzero(~np.isnan(ordered), axis=0)
    pos = 0.95 * np.maximum(count - 1, 0)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
    frac = pos - lo
    low = np.take_along_axis(ordered, lo[None], axis=0)[0].astype(np.float64)
    high = np.take_along_axis(ordered, hi[None], axis=0)[0].astype(np.float64)
    p95: FloatArray = low + frac * (high - low)
    p95[count == 0] = np.nan
    return p95


_RANGES = {
    "hourly_cost_usd": (0.0, np.inf),
    "latency_ms": (0.0, np.inf),
    "credits_usd": (0.0, np.inf),
    "gpu_availability": (0.0, 1.0),
    "availability": (0.0, 1.0),
    "error_rate": (0.0, 1.0),
}


def _check_columns(
    s_idx: IntArray,
    c_idx: IntArray,
    ts: FloatArray,
    values: dict[str, FloatArray],
    simulated: BoolArray | None,
    instance_type: Sequence[str] | npt.NDArray[np.object_] | None,
) -> None:
    """Same lengths everywhere, finite values within their ranges (the checks TelemetrySample does)."""
    n = s_idx.size
    lengths = {"candidate_idx": c_idx.size, "ts": np.asarray(ts).size}
    lengths |= {k: np.asarray(v).size for k, v in values.items()}
    if simulated is not None:
        lengths["simulated"] = np.asarray(simulated).size
    if instance_type is not None:
        lengths["instance_type"] = len(instance_type)
    bad = {k: v for k, v in lengths.items() if v != n}
    if bad:
        raise EngineError(
            f"sample columns differ in length from service_idx ({n}): {bad}",
            hint="pass one value per sample in every column",
        )
    if not np.isfinite(np.asarray(ts, dtype=np.float64)).all():
        raise EngineError("non-finite sample timestamp", hint="pass epoch seconds")
    for name, column in values.items():
        low, high = _RANGES[name]
        arr = np.asarray(column, dtype=np.float64)
        if arr.size and not (np.isfinite(arr).all() and arr.min() >= low and arr.max() <= high):
            raise EngineError(
                f"{name} has values that are not finite or outside [{low}, {high}]",
                hint="validate samples as TelemetrySample does before passing arrays",
            )


def _common(old: Sequence[str], new: Sequence[str]) -> tuple[IntArray, IntArray]:
    """Indices (in ``old``, in ``new``) of the names both hold."""
    position = {name: i for i, name in enumerate(old)}
    pairs = [(position[name], j) for j, name in enumerate(new) if name in position]
    old_idx = np.array([p[0] for p in pairs], dtype=np.intp)
    new_idx = np.array([p[1] for p in pairs], dtype=np.intp)
    return old_idx, new_idx


def _newest_per_cell(flat: IntArray, ts: FloatArray) -> IntArray | None:
    """Indices keeping only the newest sample per cell, or None when no cell repeats."""
    if flat.size < 2:
        return None
    counts = np.bincount(flat)
    if counts.max(initial=0) <= 1:
        return None
    order = np.lexsort((ts, flat))
    sorted_flat = flat[order]
    last = np.ones(sorted_flat.size, dtype=bool)
    last[:-1] = sorted_flat[1:] != sorted_flat[:-1]
    kept: IntArray = order[last]
    return kept
