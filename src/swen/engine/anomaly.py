"""Anomaly detection on telemetry, independent of Prometheus.

Robust running statistics per (service, provider, region) and per signal (latency, monthly cost,
availability), updated one sample at a time and vectorised over series with numpy.

Statistics (per series and signal)
    ``baseline``: EWMA of the value, ``alpha = 0.1`` (about the last 20 samples); during the first
    samples the weight is ``max(alpha, 1/n)``, i.e. a plain running mean, so it settles fast.
    ``band``: EWMA of the absolute deviation from the baseline (a running mean absolute deviation,
    MAD-like), times 1.2533 so it estimates a standard deviation for Gaussian noise, with a floor of
    2 % of the baseline and a per-signal absolute floor (1 ms, $1/month, 0.01) so that a perfectly
    flat series (a list price) does not call a rounding difference a spike.

Verdicts (thresholds, defaults of :class:`AnomalyConfig`)
    latency spike: ``latency > baseline + 4 x band`` and ``> 1.25 x baseline`` for 3 consecutive samples.
    cost spike: ``monthly cost > baseline + 4 x band`` and ``> 1.20 x baseline`` for 3 consecutive samples.
    outage: ``availability < 0.5`` on a single sample (no warm-up needed), or a degradation
    (``availability < 0.9`` and ``< baseline - 4 x band``) for 2 consecutive samples.
    warm-up: no spike or degradation verdict before a series has 10 samples.
    recovery: an anomaly clears after 2 consecutive samples back under half the threshold
    (``value <= baseline + 2 x band`` or ``<= baseline x (1 + min_rise/2)``; availability ``>= 0.5`` and
    not degraded), so a value hovering at the threshold does not flap.
    new normal: a spike that lasts 120 consecutive samples (10 min at 5 s) becomes the baseline
    (reported as resolved with ``rebaselined=True``); outages never do.

Why these numbers: with Gaussian noise the EWMA band has a relative error of about 17 %, so
``4 x band`` is at worst about 3.3 sigma; three consecutive samples beyond that occur with
probability ~1e-10 per sample, so 12,000 noisy samples and 20,000+ samples of the simulator's normal
model raise nothing (tested), while a real spike (x1.5 or more) is caught on its 3rd sample and an
outage on its 1st.

Poisoning: a sample that exceeds the threshold is never fed into the statistics, and nothing is
while the series is anomalous (baseline and band frozen), so a spike cannot become its own baseline.

Input: :meth:`AnomalyDetector.observe` takes TelemetrySample objects; :meth:`AnomalyDetector.observe_arrays`
takes columns (and ids from :meth:`AnomalyDetector.series_ids`) for large fleets: 500,000 series per
cycle in about 0.3 s on 2 cores (bench/anomaly_bench.py).

State: :meth:`AnomalyDetector.to_dict` / :meth:`AnomalyDetector.from_dict` round-trip the whole state
through plain JSON types (to persist across restarts in a store flag).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from swen.domain.arrays import BoolArray, FloatArray, Int64Array
from swen.domain.errors import ObservabilityError
from swen.domain.models import HOURS_PER_MONTH, TelemetrySample
from swen.domain.sample_columns import SampleColumns

STATE_VERSION = 1
MAD_TO_SIGMA = math.sqrt(math.pi / 2)  # 1.2533: E|X - mu| = sigma * sqrt(2 / pi) for Gaussian noise


class AnomalyKind(StrEnum):
    OUTAGE = "outage"
    LATENCY_SPIKE = "latency_spike"
    COST_SPIKE = "cost_spike"

    @property
    def incident_kind(self) -> str:
        """The ``incidents.kind`` this anomaly opens (outage | latency | cost)."""
        return {"outage": "outage", "latency_spike": "latency", "cost_spike": "cost"}[self.value]


# Signal columns of the state arrays.
LATENCY, COST, AVAILABILITY = 0, 1, 2
SIGNALS: tuple[AnomalyKind, ...] = (AnomalyKind.LATENCY_SPIKE, AnomalyKind.COST_SPIKE, AnomalyKind.OUTAGE)


class AnomalyConfig(BaseModel):
    """Detector thresholds (see the module docstring for what each means and why)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    alpha: float = Field(default=0.1, gt=0, le=1, description="EWMA weight of a new sample.")
    warmup: int = Field(default=10, ge=2, description="Samples before any spike/degradation verdict.")
    k: float = Field(
        default=4.0, gt=0, description="Band multiples above the baseline that count as a spike."
    )
    k_clear: float = Field(
        default=2.0, ge=0, description="Band multiples a value must fall under to recover."
    )
    spike_samples: int = Field(default=3, ge=1, description="Consecutive exceeding samples to fire a spike.")
    degraded_samples: int = Field(default=2, ge=1, description="Consecutive degraded samples to fire.")
    clear_samples: int = Field(default=2, ge=1, description="Consecutive normal samples to clear.")
    latency_min_rise: float = Field(default=0.25, ge=0, description="Latency must also be >= x(1+this).")
    cost_min_rise: float = Field(default=0.20, ge=0, description="Cost must also be >= x(1+this).")
    band_floor_rel: float = Field(default=0.02, ge=0, description="Band floor as a fraction of the baseline.")
    latency_band_floor_ms: float = Field(default=1.0, ge=0)
    cost_band_floor_usd: float = Field(default=1.0, ge=0)
    availability_band_floor: float = Field(default=0.01, ge=0)
    outage_floor: float = Field(default=0.5, ge=0, le=1, description="Availability below this: outage now.")
    degraded_floor: float = Field(default=0.9, ge=0, le=1, description="Degradation only counts below this.")
    rebaseline_samples: int = Field(
        default=120, ge=1, description="A spike this long becomes the new normal."
    )


@dataclass(frozen=True, slots=True)
class Anomaly:
    """An anomaly of one signal of one (service, provider, region) series.

    ``state`` is ``firing`` while it lasts (reported on every ``observe`` that sees the series) and
    ``resolved`` once, on the batch in which it cleared. ``new`` is True on the batch in which it
    started firing. ``value`` is the latest value (latency ms, monthly cost USD, availability 0-1);
    ``baseline`` and ``band`` are the frozen statistics it is judged against; ``first_seen`` is the
    time of the first anomalous sample of the run; ``consecutive`` the anomalous samples in a row.
    """

    service: str
    provider: str
    region: str
    kind: AnomalyKind
    value: float
    baseline: float
    band: float
    first_seen: datetime
    consecutive: int
    last_seen: datetime
    state: str = "firing"
    new: bool = False
    rebaselined: bool = False

    @property
    def firing(self) -> bool:
        return self.state == "firing"

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "provider": self.provider,
            "region": self.region,
            "kind": self.kind.value,
            "value": self.value,
            "baseline": self.baseline,
            "band": self.band,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "consecutive": self.consecutive,
            "state": self.state,
            "new": self.new,
            "rebaselined": self.rebaselined,
        }


SeriesKey = tuple[str, str, str]
_FLOAT_FIELDS = ("level", "dev", "first_seen", "last_value", "last_ts")
_INT_FIELDS = ("n", "bad_run", "good_run")


class _State:
    """Per-series state as (K, 3) arrays: one row per series, one column per signal."""

    def __init__(self, capacity: int = 16) -> None:
        self.level: FloatArray = np.zeros((capacity, 3))
        self.dev: FloatArray = np.zeros((capacity, 3))
        self.first_seen: FloatArray = np.full((capacity, 3), np.nan)
        self.last_value: FloatArray = np.full((capacity, 3), np.nan)
        self.last_ts: FloatArray = np.full((capacity, 3), np.nan)
        self.n: Int64Array = np.zeros((capacity, 3), dtype=np.int64)
        self.bad_run: Int64Array = np.zeros((capacity, 3), dtype=np.int64)
        self.good_run: Int64Array = np.zeros((capacity, 3), dtype=np.int64)
        self.active: BoolArray = np.zeros((capacity, 3), dtype=np.bool_)

    @property
    def capacity(self) -> int:
        return int(self.level.shape[0])

    def grow(self, needed: int) -> None:
        if needed <= self.capacity:
            return
        new_cap = max(needed, 2 * self.capacity)
        for name in (*_FLOAT_FIELDS, *_INT_FIELDS, "active"):
            old = getattr(self, name)
            fill: Any = np.nan if name in ("first_seen", "last_value", "last_ts") else 0
            fresh = np.full((new_cap, 3), fill, dtype=old.dtype)
            fresh[: old.shape[0]] = old
            setattr(self, name, fresh)


@dataclass(frozen=True, slots=True)
class _Round:
    rows: Int64Array
    values: FloatArray  # (n, 3): latency, monthly cost, availability
    ts: FloatArray  # (n,) epoch seconds


class AnomalyDetector:
    """Stateful, pure (no clock, no I/O) detector; feed it samples in time order with :meth:`observe`."""

    def __init__(self, config: AnomalyConfig | None = None) -> None:
        self.config = config or AnomalyConfig()
        self._index: dict[SeriesKey, int] = {}
        self._keys: list[SeriesKey] = []
        self._s = _State()

    # --- public API ------------------------------------------------------------------------------

    def observe(self, samples: Sequence[TelemetrySample]) -> list[Anomaly]:
        """Update the statistics with ``samples``; return the anomalies of the series seen.

        Firing anomalies of every series in ``samples`` are returned (level-triggered: callers make
        their reaction idempotent), plus one ``resolved`` report for each anomaly that cleared in this
        batch. Several samples of one series in one batch are applied in time order.
        """
        return self.observe_columns(SampleColumns.from_samples(samples))

    def observe_columns(self, columns: SampleColumns) -> list[Anomaly]:
        """:meth:`observe` for columns read in bulk (``Store.sample_columns_between``); the one path
        both take."""
        if not len(columns):
            return []
        return self.observe_arrays(
            list(zip(columns.service, columns.provider, columns.region, strict=True)),
            ts=np.asarray(columns.epoch_seconds(), dtype=np.float64),
            latency_ms=np.asarray(columns.latency_ms, dtype=np.float64),
            monthly_cost_usd=np.asarray(columns.hourly_cost_usd, dtype=np.float64) * HOURS_PER_MONTH,
            availability=np.asarray(columns.availability, dtype=np.float64),
        )

    def series_ids(self, keys: Sequence[SeriesKey]) -> Int64Array:
        """Ids of the (service, provider, region) series, registering new ones. Pass the result to
        :meth:`observe_arrays` instead of the keys when the same fleet is observed every cycle."""
        return self._rows(keys).copy()

    def observe_arrays(
        self,
        keys: Sequence[SeriesKey] | Int64Array,
        *,
        ts: FloatArray,
        latency_ms: FloatArray,
        monthly_cost_usd: FloatArray,
        availability: FloatArray,
    ) -> list[Anomaly]:
        """:meth:`observe` for column data: ``keys[i]`` = (service, provider, region) of row ``i`` (or
        the ids from :meth:`series_ids`); ``ts`` in epoch seconds. No per-sample Python objects."""
        n = len(keys)
        columns = [np.asarray(a, dtype=np.float64) for a in (ts, latency_ms, monthly_cost_usd, availability)]
        if any(c.shape != (n,) for c in columns):
            raise ObservabilityError(
                f"anomaly detector input: every column must have {n} values (one per key)",
                hint="pass one ts/latency/cost/availability value per key",
            )
        if not all(np.isfinite(c).all() for c in columns):
            raise ObservabilityError(
                "anomaly detector input holds NaN or infinity", hint="drop missing samples before observing"
            )
        if n == 0:
            return []
        fired: set[tuple[int, int]] = set()
        resolved: dict[tuple[int, int], bool] = {}
        rows = self._ids(keys) if isinstance(keys, np.ndarray) else self._rows(keys)
        for rnd in self._rounds(rows, columns[0], np.column_stack(columns[1:])):
            new_fire, new_clear, rebased = self._step(rnd)
            for r, c in zip(*np.nonzero(new_fire), strict=True):
                fired.add((int(rnd.rows[r]), int(c)))
            for r, c in zip(*np.nonzero(new_clear), strict=True):
                resolved[(int(rnd.rows[r]), int(c))] = bool(rebased[r, c])
        seen = np.zeros(len(self._keys), dtype=np.bool_)
        seen[rows] = True
        return self._report(np.flatnonzero(seen), fired, resolved)

    def active(self) -> list[Anomaly]:
        """Every firing anomaly, across all series."""
        rows = np.nonzero(self._s.active[: len(self._keys)].any(axis=1))[0].astype(np.int64)
        return self._report(rows, set(), {})

    def is_anomalous(self, service: str, provider: str, region: str) -> bool:
        row = self._index.get((service, provider, region))
        return row is not None and bool(self._s.active[row].any())

    def forget(self, *, before: datetime) -> int:
        """Drop series not seen since ``before`` (bounded memory); return how many were dropped."""
        cutoff = _epoch(before)
        count = len(self._keys)
        last = np.nanmax(
            np.where(np.isnan(self._s.last_ts[:count]), -np.inf, self._s.last_ts[:count]), axis=1
        )
        keep = np.nonzero(last >= cutoff)[0]
        dropped = count - len(keep)
        if dropped:
            fresh = _State(max(16, len(keep)))
            for name in (*_FLOAT_FIELDS, *_INT_FIELDS, "active"):
                getattr(fresh, name)[: len(keep)] = getattr(self._s, name)[keep]
            self._s = fresh
            self._keys = [self._keys[i] for i in keep]
            self._index = {key: i for i, key in enumerate(self._keys)}
        return dropped

    def to_dict(self) -> dict[str, Any]:
        """The full state as plain JSON types (lists, floats, ints; NaN as None)."""
        count = len(self._keys)
        arrays: dict[str, Any] = {}
        for name in (*_FLOAT_FIELDS, *_INT_FIELDS, "active"):
            values = getattr(self._s, name)[:count].tolist()
            if name in _FLOAT_FIELDS:
                values = [[None if math.isnan(v) else v for v in row] for row in values]
            arrays[name] = values
        return {
            "version": STATE_VERSION,
            "config": self.config.model_dump(),
            "keys": [list(key) for key in self._keys],
            "arrays": arrays,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, config: AnomalyConfig | None = None) -> AnomalyDetector:
        """Rebuild a detector from :meth:`to_dict` output; ``config`` overrides the stored one."""
        try:
            if data.get("version") != STATE_VERSION:
                raise ValueError(f"state version {data.get('version')!r}, expected {STATE_VERSION}")
            detector = cls(config or AnomalyConfig.model_validate(data["config"]))
            keys = [(str(s), str(p), str(r)) for s, p, r in data["keys"]]
            detector._keys = keys
            detector._index = {key: i for i, key in enumerate(keys)}
            detector._s = _State(max(16, len(keys)))
            for name in (*_FLOAT_FIELDS, *_INT_FIELDS, "active"):
                rows = data["arrays"][name]
                if len(rows) != len(keys):
                    raise ValueError(f"{name}: {len(rows)} rows for {len(keys)} series")
                target = getattr(detector._s, name)
                if rows:
                    raw = [[np.nan if v is None else v for v in row] for row in rows]
                    target[: len(keys)] = np.asarray(raw, dtype=target.dtype).reshape(len(keys), 3)
        except (KeyError, TypeError, ValueError, ValidationError) as exc:
            raise ObservabilityError(
                f"cannot restore the anomaly detector state: {exc}",
                hint="the stored state is from another version or damaged; start from an empty detector",
            ) from exc
        return detector

    # --- internals -------------------------------------------------------------------------------

    def _ids(self, ids: Int64Array) -> Int64Array:
        rows = np.asarray(ids, dtype=np.int64)
        if rows.ndim != 1 or (rows.size and (int(rows.min()) < 0 or int(rows.max()) >= len(self._keys))):
            raise ObservabilityError(
                "unknown series ids given to the anomaly detector",
                hint="get ids from series_ids() of the same detector",
            )
        return rows

    def _rows(self, keys: Sequence[SeriesKey]) -> Int64Array:
        index = self._index
        rows = np.fromiter((index.get(key, -1) for key in keys), dtype=np.int64, count=len(keys))
        for i in np.nonzero(rows < 0)[0].tolist():
            key: SeriesKey = (str(keys[i][0]), str(keys[i][1]), str(keys[i][2]))
            row = index.get(key)
            if row is None:
                row = len(self._keys)
                self._s.grow(row + 1)
                index[key] = row
                self._keys.append(key)
            rows[i] = row
        return rows

    def _rounds(self, rows: Int64Array, ts: FloatArray, values: FloatArray) -> list[_Round]:
        """Split the batch (in time order) into rounds in which every series appears at most once."""
        order = np.argsort(ts, kind="stable")
        rows, ts, values = rows[order], ts[order], values[order]
        if int(np.bincount(rows).max()) <= 1:  # the usual case: one sample per series
            return [_Round(rows=rows, values=values, ts=ts)]
        depth = np.zeros(rows.size, dtype=np.int64)
        seen: dict[int, int] = {}
        for i, row in enumerate(rows.tolist()):
            depth[i] = seen.get(row, 0)
            seen[row] = int(depth[i]) + 1
        return [
            _Round(rows=rows[depth == d], values=values[depth == d], ts=ts[depth == d])
            for d in range(int(depth.max()) + 1)
        ]

    def _bands(self, level: FloatArray, dev: FloatArray) -> FloatArray:
        cfg = self.config
        floors = np.array([cfg.latency_band_floor_ms, cfg.cost_band_floor_usd, cfg.availability_band_floor])
        band: FloatArray = np.maximum(
            np.maximum(dev * MAD_TO_SIGMA, cfg.band_floor_rel * np.abs(level)), floors
        )
        return band

    def _verdicts(
        self, x: FloatArray, level: FloatArray, band: FloatArray, warm: BoolArray
    ) -> tuple[BoolArray, BoolArray, BoolArray]:
        """(bad, immediate, normal) per (series, signal) for one round."""
        cfg = self.config
        rise = np.array([cfg.latency_min_rise, cfg.cost_min_rise])
        spike_lvl, spike_x, spike_band = level[:, :2], x[:, :2], band[:, :2]
        spike = warm[:, :2] & (spike_x > spike_lvl + cfg.k * spike_band) & (spike_x > spike_lvl * (1 + rise))
        calm = (spike_x <= spike_lvl + cfg.k_clear * spike_band) | (spike_x <= spike_lvl * (1 + rise / 2))
        avail, a_lvl, a_band = x[:, 2], level[:, 2], band[:, 2]
        down = avail < cfg.outage_floor
        degraded = warm[:, 2] & (avail < cfg.degraded_floor) & (avail < a_lvl - cfg.k * a_band)
        bad = np.column_stack([spike, down | degraded])
        immediate = np.column_stack([np.zeros_like(spike), down])
        normal = np.column_stack([calm, ~(down | degraded)])
        return bad, immediate, normal

    def _step(self, rnd: _Round) -> tuple[BoolArray, BoolArray, BoolArray]:
        """Apply one round; return (fired, cleared, rebaselined) masks of shape (n, 3)."""
        cfg, s, x = self.config, self._s, rnd.values
        rows = _selector(rnd.rows)
        level, dev, n = s.level[rows], s.dev[rows], s.n[rows]
        active, bad_run, good_run = s.active[rows], s.bad_run[rows], s.good_run[rows]
        band = self._bands(level, dev)
        bad, immediate, normal = self._verdicts(x, level, band, n >= cfg.warmup)

        starts = bad & (bad_run == 0) & ~active
        bad_run = np.where(bad, bad_run + 1, 0)
        needed = np.array([cfg.spike_samples, cfg.spike_samples, cfg.degraded_samples])
        fired = ~active & bad & (immediate | (bad_run >= needed))
        good_run = np.where(active & normal, good_run + 1, 0)
        cleared = active & (good_run >= cfg.clear_samples)
        rebased = active & ~cleared & (bad_run >= cfg.rebaseline_samples)
        rebased[:, AVAILABILITY] = False
        now_active = (active | fired) & ~cleared & ~rebased

        # Statistics learn only from normal samples of quiet series; a re-baselined series restarts
        # from the value it settled at.
        learn = ~bad & ~active & ~fired
        weight = np.maximum(cfg.alpha, 1.0 / (n + 1))
        deviation = np.where(n == 0, 0.0, np.abs(x - level))
        new_dev = np.where(learn, dev + weight * (deviation - dev), dev)
        new_level = np.where(learn, level + weight * (x - level), level)
        new_level = np.where(rebased, x, new_level)

        s.level[rows], s.dev[rows], s.n[rows] = new_level, new_dev, np.where(learn, n + 1, n)
        s.active[rows] = now_active
        s.bad_run[rows] = np.where(rebased | cleared, 0, bad_run)
        s.good_run[rows] = np.where(now_active, good_run, 0)
        s.first_seen[rows] = np.where(starts, rnd.ts[:, None], s.first_seen[rows])
        s.last_value[rows], s.last_ts[rows] = x, np.broadcast_to(rnd.ts[:, None], x.shape)
        return fired, cleared | rebased, rebased

    def _report(
        self, touched: Int64Array, fired: set[tuple[int, int]], resolved: dict[tuple[int, int], bool]
    ) -> list[Anomaly]:
        s = self._s
        out: list[Anomaly] = []
        resolved_rows = {row for row, _ in resolved}
        flagged = [int(r) for r in touched[s.active[touched].any(axis=1)]]
        for row in sorted(set(flagged) | resolved_rows):  # series in order of first appearance
            bands = self._bands(s.level[row], s.dev[row])
            for col, kind in enumerate(SIGNALS):
                firing = bool(s.active[row, col])
                if not firing and (row, col) not in resolved:
                    continue
                service, provider, region = self._keys[row]
                first = s.first_seen[row, col]
                last = float(s.last_ts[row, col])
                out.append(
                    Anomaly(
                        service=service,
                        provider=provider,
                        region=region,
                        kind=kind,
                        value=float(s.last_value[row, col]),
                        baseline=float(s.level[row, col]),
                        band=float(bands[col]),
                        first_seen=_from_epoch(last if math.isnan(first) else float(first)),
                        consecutive=int(s.bad_run[row, col]),
                        last_seen=_from_epoch(last),
                        state="firing" if firing else "resolved",
                        new=firing and (row, col) in fired,
                        rebaselined=not firing and resolved.get((row, col), False),
                    )
                )
        return out


def _selector(rows: Int64Array) -> Int64Array | slice:
    """A slice (views, no gather/scatter copies) when ``rows`` is a run of consecutive ids."""
    if rows.size and int(rows[-1]) - int(rows[0]) == rows.size - 1 and bool((np.diff(rows) == 1).all()):
        return slice(int(rows[0]), int(rows[-1]) + 1)
    return rows


def _epoch(ts: datetime) -> float:
    return ts.timestamp()


def _from_epoch(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)
