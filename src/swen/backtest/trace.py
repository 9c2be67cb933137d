"""The trace of a backtest: every (service, candidate) metric at every step, generated once.

``build_trace`` runs the real telemetry simulator (``Simulator.step_arrays``) over the replay with the
scenario's events activated at the start, and keeps each step's arrays as ``T x P`` matrices (P =
sampled (service, candidate) pairs, contiguous per service). All strategies then replay the same trace.

The simulator is run with the fleet's initial placements, so its credit balances burn as if every
service stayed put. The trace does not keep them: each strategy's credits burn by its own placements and
count in its own bill (``credits.CreditRun``, the live ledger's burn code), and the platform's engine
sees its own balances. The trace keeps the grants (the credit ledger file's) and the ``credit_expiry``
events for that.

:class:`Grid` gives the per-service candidate view the strategies need: the pair of each service's
c-th candidate (``cand_pair``, ``S x Cmax``, -1 padding), which candidates a move may enter
(residency), each service's initial candidate column and the one-time migration cost between any two
of its candidates (egress, downtime and risk: ``migration.MigrationCost``). A move may not enter a
provider the platform cannot deploy to (``PROVIDERS.undeployable()``, as the live engine's
UNDEPLOYABLE constraint); a service that starts there may stay.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from swen.backtest.columns import CodedMatrix, FactoredMatrix, GroupedColumns
from swen.backtest.credits import CreditExpiry, CreditRun, credit_expiries
from swen.backtest.fleet import PricePaths, PriceStepper
from swen.backtest.migration import MigrationCost
from swen.domain.arrays import BoolArray, Float32Array, FloatArray, Int64Array
from swen.domain.errors import InvalidInputError
from swen.domain.models import Placement, Service
from swen.engine.migration_cost import move_usd
from swen.telemetry.catalog import Catalog
from swen.telemetry.credit_file import Grant
from swen.telemetry.credits import Credits, as_grants
from swen.telemetry.pairs import PairIndex
from swen.telemetry.scenarios import Scenario
from swen.telemetry.simulator import SampleArrays, Simulator

Progress = Callable[[int], None]
"""Called with the number of steps just done."""

MAX_STEPS = 500_000


@dataclass(frozen=True, eq=False)
class Trace:
    """Row t of every matrix is the simulator's step at ``start + t x step_s``; column p is pair p."""

    services: tuple[Service, ...]
    start: datetime
    step_s: float
    index: PairIndex
    hourly_cost_usd: Float32Array | FactoredMatrix
    """Read it by indexing (``[t]``, ``[rows, pairs]``): a :class:`columns.FactoredMatrix` as built."""
    latency_ms: Float32Array
    availability: npt.NDArray[np.float16] | CodedMatrix
    """Read it by indexing: a :class:`columns.CodedMatrix` as built (about ten distinct values)."""
    gpu_pairs: Int64Array
    """The pairs with a GPU market, in order; every other pair's GPU availability is always 1.0 (the
    simulator's model), so only these pairs have a column (28 % of the pairs at 1,000 services)."""
    gpu_values: npt.NDArray[np.float16]
    """``T x G``: the GPU availability of each group of GPU pairs equal at every step (the pairs of one
    GPU market, split where a scenario treats them differently)."""
    gpu_group: Int64Array | None = None
    """Pair -> its column in ``gpu_values`` (-1: no GPU market); None: ``gpu_pairs``' positions."""
    grants: tuple[Grant, ...] = ()
    """The credit ledger file's grants (a grant without a start starts with the replay)."""
    credit_expiries: tuple[CreditExpiry, ...] = ()

    def credit_run(self) -> CreditRun:
        """A fresh credit ledger for one strategy (``credits.CreditRun``)."""
        return CreditRun(self.index.providers, self.grants, self.credit_expiries, self.step_s, self.start)

    @property
    def steps(self) -> int:
        return int(self.hourly_cost_usd.shape[0])

    @property
    def step_h(self) -> float:
        return self.step_s / 3600.0

    def time_at(self, step: int) -> datetime:
        return self.start + timedelta(seconds=self.step_s * step)

    @cached_property
    def gpu_column(self) -> Int64Array:
        """Pair -> its column in ``gpu_values`` (-1: no GPU market, availability 1.0)."""
        if self.gpu_group is not None:
            return self.gpu_group
        out = np.full(self.index.size, -1, dtype=np.int64)
        out[self.gpu_pairs] = np.arange(self.gpu_pairs.size)
        return out

    def gpu_row(self, step: int) -> npt.NDArray[Any]:
        """GPU availability of every pair at ``step`` (float16, as stored)."""
        row = np.ones(self.index.size, dtype=np.float16)
        row[self.gpu_pairs] = self.gpu_values[step][self.gpu_column[self.gpu_pairs]]
        return row

    def gpu_at(self, step: int, pair: int) -> np.float16:
        col = int(self.gpu_column[pair])
        return np.float16(1.0) if col < 0 else self.gpu_values[step, col]

    def gpu_cells(self, rows: slice, pairs: Int64Array) -> FloatArray:
        """GPU availability at ``rows`` x ``pairs`` (any shape of pair indices), in float64."""
        col = self.gpu_column[pairs]
        values = np.asarray(self.gpu_values[rows][:, np.maximum(col, 0)], dtype=np.float64)
        values[:, col < 0] = 1.0
        return values

    @property
    def gpu_availability(self) -> npt.NDArray[np.float16]:
        """The full ``T x pairs`` matrix, built on each call (as large as the trace's availability):
        prefer ``gpu_row``, ``gpu_at`` or ``gpu_cells``."""
        out = np.ones((self.steps, self.index.size), dtype=np.float16)
        out[:, self.gpu_pairs] = self.gpu_values[:, self.gpu_column[self.gpu_pairs]]
        return out

    @property
    def nbytes(self) -> int:
        arrays = (
            self.hourly_cost_usd,
            self.latency_ms,
            self.availability,
            self.gpu_values,
        )
        return sum(int(a.nbytes) for a in arrays)


def build_trace(
    services: Sequence[Service],
    catalog: Catalog,
    *,
    seed: int,
    start: datetime,
    days: float,
    step_s: float,
    credits: Credits | None = None,
    scenarios: Sequence[Scenario] = (),
    progress: Progress | None = None,
    prices: PricePaths | None = None,
    noise: bool = True,
    compact: bool = True,
) -> Trace:
    """Step the simulator ``days x 86400 / step_s`` times and keep every metric a replay reads.

    ``prices``: per-service price factors (a generated fleet's) applied to every step's prices.
    ``noise=False``: the simulator without its random terms (``Simulator(noise=False)``), for the
    scheduled-events reference. ``compact``: prices, availability and GPU availability in the exact
    compact storage of ``columns`` (False: plain matrices, the reference the tests compare it with)."""
    if not step_s > 0:
        raise InvalidInputError(f"step must be > 0 s, got {step_s}", hint="use e.g. 300 (5 minutes)")
    steps = round(days * 86400.0 / step_s)
    if not 1 <= steps <= MAX_STEPS:
        raise InvalidInputError(
            f"{days:g} days at {step_s:g} s steps is {steps} steps",
            hint=f"choose days and step so that 1 <= steps <= {MAX_STEPS}",
        )
    sim = Simulator(services, catalog, seed, start, step_s, credits=credits, noise=noise)
    stepper = None if prices is None else prices.stepper(sim.index, noise=noise)
    for scenario in scenarios:
        sim.activate(scenario, at=start)
    idx = sim.index
    n_pairs = idx.size
    gpu_pairs = np.flatnonzero(idx.pair_gpu_market >= 0).astype(np.int64)
    store = (
        _CompactStore(steps, idx, gpu_pairs, stepper)
        if compact
        else _PlainStore(steps, n_pairs, gpu_pairs, stepper)
    )
    latency = np.empty((steps, n_pairs), dtype=np.float32)
    chunk = max(1, steps // 100)
    step_h = step_s / 3600.0
    for t in range(steps):
        arrays = sim.step_arrays(start + timedelta(seconds=step_s * t))
        arrays.validate()
        store.put(t, arrays, step_h)
        latency[t] = arrays.latency_ms
        if progress is not None and (t + 1) % chunk == 0:
            progress(chunk)
    if progress is not None and steps % chunk:
        progress(steps % chunk)
    return Trace(
        services=tuple(services),
        start=start,
        step_s=float(step_s),
        index=idx,
        hourly_cost_usd=store.cost(),
        latency_ms=latency,
        availability=store.availability,
        gpu_pairs=gpu_pairs,
        gpu_values=store.gpu_values(),
        grants=as_grants(credits),
        credit_expiries=credit_expiries(scenarios),
        gpu_group=store.gpu_group(),
    )


class _PlainStore:
    """Every cell of prices, availability and GPU availability (of the GPU pairs)."""

    def __init__(self, steps: int, n_pairs: int, gpu_pairs: Int64Array, stepper: PriceStepper | None) -> None:
        self._cost = np.empty((steps, n_pairs), dtype=np.float32)
        self.availability = np.empty((steps, n_pairs), dtype=np.float16)
        self._gpu = np.empty((steps, gpu_pairs.size), dtype=np.float16)
        self._gpu_pairs, self._stepper = gpu_pairs, stepper

    def put(self, t: int, arrays: SampleArrays, step_h: float) -> None:
        stepper = self._stepper
        self._cost[t] = (
            arrays.hourly_cost_usd if stepper is None else stepper.apply(arrays.hourly_cost_usd, step_h)
        )
        self.availability[t] = arrays.availability
        self._gpu[t] = arrays.gpu_availability[self._gpu_pairs]

    def cost(self) -> Float32Array:
        return self._cost

    def gpu_values(self) -> npt.NDArray[np.float16]:
        return self._gpu

    def gpu_group(self) -> None:
        return None


class _CompactStore:
    """Prices as offer price x service factor, availability coded, GPU availability per market
    (``columns``; exact)."""

    def __init__(
        self, steps: int, idx: PairIndex, gpu_pairs: Int64Array, stepper: PriceStepper | None
    ) -> None:
        self._base = GroupedColumns(steps, idx.pair_offer, np.float64)
        self.availability = CodedMatrix(steps, idx.size, np.float16)
        self._gpu = GroupedColumns(steps, idx.pair_gpu_market[gpu_pairs], np.float16)
        self._gpu_pairs, self._stepper = gpu_pairs, stepper
        self._factor: npt.NDArray[np.float64] | None = None
        self._factor_of: Int64Array | None = None
        self._cells: Int64Array | None = None
        if stepper is not None:
            self._cells, inverse = np.unique(stepper.cell, return_inverse=True)
            self._factor_of = inverse.astype(np.int64).ravel()
            self._factor = np.empty((steps, self._cells.size), dtype=np.float64)

    def put(self, t: int, arrays: SampleArrays, step_h: float) -> None:
        self._base.put(t, arrays.hourly_cost_usd)
        if self._stepper is not None and self._factor is not None:
            self._factor[t] = self._stepper.factors(step_h)[self._cells]
        self.availability.put(t, arrays.availability)
        self._gpu.put(t, arrays.gpu_availability[self._gpu_pairs])

    def cost(self) -> FactoredMatrix:
        return FactoredMatrix(self._base, self._factor, self._factor_of)

    def gpu_values(self) -> npt.NDArray[np.float16]:
        out: npt.NDArray[np.float16] = self._gpu.values
        return out

    def gpu_group(self) -> Int64Array:
        out = np.full(self._base.group_of.size, -1, dtype=np.int64)
        out[self._gpu_pairs] = self._gpu.group_of
        return out


# Storage: The trace's matrices are T x pairs (30 days x 1,000 services is 8,640 x ~11,000): latency in
# float32 (7 significant digits); prices float32 values, stored as the offer's float64 price times the
# service's float64 price factor and rounded to float32 on read (``columns.FactoredMatrix``: the same
# bits); availability and GPU availability (of the pairs with a GPU market only: ``Trace.gpu_pairs``) in
# float16 (3 digits: 0.9990 is stored as 0.9990234, far finer than the floors they are compared with),
# availability as one-byte codes into its few distinct values and GPU availability once per GPU market
# (``columns``). Sums are taken in float64. Error rates are not kept: the engine's cycle never reads them
# (the anomaly detector and the verification do, and neither runs in a replay), and at 1,000 services
# they took 100 MB.


@dataclass(frozen=True, eq=False)
class Grid:
    """Per-service candidate columns over the trace's pairs (``S x Cmax``, padded with -1)."""

    cand_pair: Int64Array
    enterable: BoolArray
    """A move may go there: a real candidate the service's residency rules allow."""
    initial: Int64Array
    """Column of each service's starting placement."""
    move_usd: FloatArray
    """``S x Cmax x Cmax``: one-time migration cost from column i to column j (0 on the diagonal):
    egress + downtime + risk (``migration.MigrationCost``)."""
    downtime_min: FloatArray
    """Minutes of downtime one move of each service causes (S)."""
    slo_ms: FloatArray
    replicas: FloatArray
    is_gpu: BoolArray

    @property
    def width(self) -> int:
        return int(self.cand_pair.shape[1])

    def placement(self, trace: Trace, service: int, column: int) -> Placement:
        pair = int(self.cand_pair[service, column])
        return trace.index.placements[int(trace.index.pair_placement[pair])]


def build_grid(
    trace: Trace,
    catalog: Catalog,
    *,
    migration: MigrationCost | None = None,
    undeployable: Collection[str] = (),
) -> Grid:
    """The candidate view of ``trace``; ``undeployable`` providers may not be entered by a move."""
    migration = migration or MigrationCost()
    idx = trace.index
    services = trace.services
    n_s = len(services)
    counts = np.bincount(idx.pair_service, minlength=n_s)
    width = int(counts.max()) if n_s else 0
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    cand_pair = np.full((n_s, width), -1, dtype=np.int64)
    cols = np.arange(width)
    valid = cols[None, :] < counts[:, None]
    cand_pair[valid] = (starts[:, None] + cols[None, :])[valid]
    places = idx.placements
    egress = np.array([[catalog.egress_usd_per_gb(a, b) for b in places] for a in places], dtype=np.float64)
    place_of = np.where(valid, idx.pair_placement[np.maximum(cand_pair, 0)], 0)
    state_gb = np.array([s.state_gb for s in services], dtype=np.float64)
    fixed = migration.fixed_usd_array(services)
    differs = place_of[:, :, None] != place_of[:, None, :]
    move = move_usd(
        state_gb[:, None, None],
        egress[place_of[:, :, None], place_of[:, None, :]],
        fixed[:, None, None],
        differs,
    )
    deployable = np.array([p.provider not in undeployable for p in places], dtype=bool)
    allowed = (
        np.array(
            [[services[s].allows(places[int(p)]) for p in row] for s, row in enumerate(place_of)], dtype=bool
        )
        & deployable[place_of]
    )
    initial = np.empty(n_s, dtype=np.int64)
    for s, service in enumerate(services):
        pair = idx.pair_for(s, service.fleet_placement)
        if pair is None:  # build_pairs always samples the current placement
            raise InvalidInputError(f"{service.name}: its current placement is not sampled")
        initial[s] = pair - starts[s]
    return Grid(
        cand_pair=cand_pair,
        enterable=valid & allowed,
        initial=initial,
        move_usd=move,
        downtime_min=np.array([migration.downtime_min(s) for s in services], dtype=np.float64),
        slo_ms=np.array([s.latency_slo_ms for s in services], dtype=np.float64),
        replicas=np.array([s.replicas for s in services], dtype=np.float64),
        is_gpu=np.array([s.shape.gpu_count > 0 for s in services], dtype=bool),
    )


@dataclass(frozen=True)
class Floors:
    """What counts as healthy: availability at or above ``availability``; a GPU move needs
    ``gpu_availability`` at the target (the engine's floors)."""

    availability: float = 0.90
    gpu_availability: float = 0.20


def cell_values(trace: Trace, grid: Grid, rows: slice, services: Int64Array) -> dict[str, FloatArray]:
    """``T' x S' x Cmax`` views of the trace for some steps and services (padding: NaN)."""
    pairs = grid.cand_pair[services]
    safe = np.maximum(pairs, 0)
    pad = pairs < 0
    out: dict[str, FloatArray] = {}
    for name in ("hourly_cost_usd", "latency_ms", "availability", "gpu_availability"):
        if name == "gpu_availability":
            values = trace.gpu_cells(rows, safe)
        else:
            values = np.asarray(getattr(trace, name)[rows, safe], dtype=np.float64)
        values[:, pad] = np.nan
        out[name] = values
    return out


def bad_cells(
    values: Mapping[str, FloatArray],
    grid: Grid,
    services: Int64Array,
    floors: Floors,
    *,
    steps: int | None = None,
) -> Int64Array:
    """Badness of each step and candidate: ``outage_weight`` when the availability is below the floor,
    plus 1 when the latency is above the SLO (padding counts as both).

    With ``outage_weight = T + 1`` a sum over a path orders paths by outage steps first, then by SLO
    steps (a path can have at most T SLO steps). ``steps``: T when ``values`` hold only some of the
    trace's steps (default: as many as ``values`` hold).
    """
    n_t = next(iter(values.values())).shape[0] if steps is None else steps
    with np.errstate(invalid="ignore"):
        over_slo = ~(values["latency_ms"] <= grid.slo_ms[services][None, :, None])
        down = ~(values["availability"] >= floors.availability)
    out: Int64Array = down.astype(np.int64) * outage_weight(n_t) + over_slo
    return out


def outage_weight(steps: int) -> int:
    return steps + 1


def enter_ok(values: Mapping[str, FloatArray], grid: Grid, services: Int64Array, floors: Floors) -> BoolArray:
    """Where a move may land at each step: enterable, and GPU capacity available for GPU services."""
    with np.errstate(invalid="ignore"):
        gpu_ok = values["gpu_availability"] >= floors.gpu_availability
    gpu_ok |= ~grid.is_gpu[services][None, :, None]
    out: BoolArray = gpu_ok & grid.enterable[services][None, :, :]
    return out
