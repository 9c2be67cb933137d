"""One telemetry tick as columns: the simulator's write path, without one model object per sample.

A 10,000-service fleet writes about 110,000 samples every 5 s tick. Building a ``TelemetrySample`` per
sample (even unvalidated, ``model_construct``) and turning each back into a row cost about 1 CPU s a
tick, and the names it carries do not change from tick to tick. So a tick is two parts:

- ``SampleGroups``: who each row is (service, provider, region, instance type, whether the price is
  simulated), every name checked once when the groups are built (the same rules as
  ``TelemetrySample``: ``domain/names.py``), each (service, provider, region) at most once. Build it
  once and reuse it for every tick of the same fleet: the store caches what it derives from it
  (encodings, sort order) per groups object.
- ``SampleBatch``: one timestamp and one float array per measurement, row ``i`` being group ``i``.
  ``SampleBatch.checked`` applies ``TelemetrySample``'s range checks to whole arrays (finite, within
  the field's bounds) and refuses the batch naming the first bad row and how many are bad.

``Store.insert_sample_batch`` writes a batch as ``Store.insert_samples`` writes the same samples (the
same rows in ``telemetry_samples`` and ``telemetry_latest``; tests/unit/store/test_sample_batch.py
compares them); ``samples()`` gives the model objects where one is wanted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from swen.domain.arrays import BoolArray, FloatArray
from swen.domain.errors import InvalidInputError
from swen.domain.models import TelemetrySample
from swen.domain.names import validate_location_name, validate_service_name

MEASUREMENTS: tuple[tuple[str, float], ...] = (
    ("hourly_cost_usd", 1e6),
    ("latency_ms", 600_000.0),
    ("credits_usd", 1e9),
    ("gpu_availability", 1.0),
    ("availability", 1.0),
    ("error_rate", 1.0),
)
"""Each float column of a sample and its upper bound (all are >= 0), as ``TelemetrySample`` has them."""
INSTANCE_TYPE_MAX = 64


@dataclass(frozen=True, eq=False)
class SampleGroups:
    """Who each row of a batch is; build with ``checked`` (names validated once). Compared and hashed
    by identity: the store caches per groups object what it derives from it."""

    service: tuple[str, ...]
    provider: tuple[str, ...]
    region: tuple[str, ...]
    instance_type: tuple[str, ...]
    simulated_price: BoolArray
    order: np.ndarray = field(repr=False)
    """Row positions sorted by (service, provider, region): the order rows of ``telemetry_latest`` are
    locked in (the same order as every other writer of that table, so no deadlock)."""

    @classmethod
    def checked(
        cls,
        service: Sequence[str],
        provider: Sequence[str],
        region: Sequence[str],
        instance_type: Sequence[str],
        simulated_price: Sequence[bool] | BoolArray,
    ) -> SampleGroups:
        """Validate every name once (InvalidInputError naming the row and the field)."""
        n = len(service)
        columns = {"provider": provider, "region": region, "instance_type": instance_type}
        for name, column in (*columns.items(), ("simulated_price", simulated_price)):
            if len(column) != n:
                raise InvalidInputError(
                    f"sample groups: {name} has {len(column)} entries, service has {n}",
                    hint="give one entry per row in every column",
                    source=name,
                )
        for what, column, check in (
            ("service", service, validate_service_name),
            ("provider", provider, validate_location_name),
            ("region", region, validate_location_name),
        ):
            for value in dict.fromkeys(column):  # each distinct name once
                try:
                    check(value)
                except InvalidInputError as exc:
                    raise InvalidInputError(
                        f"sample groups: {exc.message}", hint=exc.hint, source=what
                    ) from None
        for value in dict.fromkeys(instance_type):
            if not isinstance(value, str) or not 1 <= len(value) <= INSTANCE_TYPE_MAX:
                raise InvalidInputError(
                    f"sample groups: invalid instance type {value!r}",
                    hint=f"an instance type is 1 to {INSTANCE_TYPE_MAX} characters",
                    source="instance_type",
                )
        keys = list(zip(service, provider, region, strict=True))
        if len(set(keys)) != n:
            seen: set[tuple[str, str, str]] = set()
            dup = next(k for k in keys if k in seen or seen.add(k))  # type: ignore[func-returns-value]
            raise InvalidInputError(
                f"sample groups: {dup[0]} on {dup[1]}/{dup[2]} appears more than once",
                hint="a batch holds one sample per (service, provider, region)",
                source="service",
            )
        order = np.asarray(sorted(range(n), key=keys.__getitem__), dtype=np.int64)
        return cls(
            tuple(service),
            tuple(provider),
            tuple(region),
            tuple(instance_type),
            np.asarray(simulated_price, dtype=np.bool_).copy(),
            order,
        )

    def __len__(self) -> int:
        return len(self.service)


@dataclass(frozen=True, eq=False)
class SampleBatch:
    """One timestamp's samples as columns; build with ``checked``."""

    ts: datetime
    groups: SampleGroups
    hourly_cost_usd: FloatArray
    latency_ms: FloatArray
    credits_usd: FloatArray
    gpu_availability: FloatArray
    availability: FloatArray
    error_rate: FloatArray

    @classmethod
    def checked(
        cls,
        ts: datetime,
        groups: SampleGroups,
        **values: FloatArray | Sequence[float],
    ) -> SampleBatch:
        """Range checks on whole columns (TelemetrySample's bounds); InvalidInputError on the first bad
        row, naming the group, the field, the value and how many rows are bad."""
        if ts.tzinfo is None:
            raise InvalidInputError(
                "sample batch: the timestamp must be timezone-aware (UTC)", hint="use a UTC datetime"
            )
        names = [name for name, _ in MEASUREMENTS]
        if sorted(values) != sorted(names):
            raise InvalidInputError(
                f"sample batch: columns {sorted(values)} given, {names} expected",
                hint="give every measurement column",
            )
        arrays: dict[str, FloatArray] = {}
        for name, upper in MEASUREMENTS:
            column = np.ascontiguousarray(values[name], dtype=np.float64)
            if column.shape != (len(groups),):
                raise InvalidInputError(
                    f"sample batch: {name} has shape {column.shape}, expected ({len(groups)},)",
                    hint="give one value per group",
                    source=name,
                )
            bad = np.flatnonzero(~((column >= 0.0) & (column <= upper)))  # NaN fails both
            if bad.size:
                i = int(bad[0])
                raise InvalidInputError(
                    f"sample batch: {name} is {float(column[i])!r} for {groups.service[i]} on "
                    f"{groups.provider[i]}/{groups.region[i]} ({bad.size} bad value(s))",
                    hint=f"{name} must be a finite number from 0 to {upper:g}",
                    source=name,
                )
            arrays[name] = column
        return cls(ts.astimezone(UTC), groups, **arrays)

    def __len__(self) -> int:
        return len(self.groups)

    def columns(self) -> tuple[FloatArray, ...]:
        """The measurement arrays in ``MEASUREMENTS`` order."""
        return tuple(getattr(self, name) for name, _ in MEASUREMENTS)

    def samples(self) -> list[TelemetrySample]:
        """The batch as model objects (checked already, so not validated again)."""
        g = self.groups
        rows = zip(
            g.service, g.provider, g.region, g.instance_type, g.simulated_price.tolist(),
            *(column.tolist() for column in self.columns()), strict=True,
        )  # fmt: skip
        return [
            TelemetrySample.model_construct(
                service=s,
                provider=p,
                region=r,
                ts=self.ts,
                instance_type=it,
                hourly_cost_usd=c,
                latency_ms=lat,
                credits_usd=cr,
                gpu_availability=gpu,
                availability=av,
                error_rate=er,
                simulated_price=sim,
            )
            for s, p, r, it, sim, c, lat, cr, gpu, av, er in rows
        ]
