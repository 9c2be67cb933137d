"""The deterministic telemetry simulator, vectorised with numpy over all (service, candidate) pairs.

``Simulator(services, catalog, seed, start, interval_s)``; ``step(now)`` returns one TelemetrySample
per pair, ``step_arrays(now)`` the same as numpy arrays plus an index (benches, backtests). The same
seed and the same sequence of ``step`` times (and placements, and scenarios) give identical samples.

Model (constants and formulas in ``model.py``):

* hourly cost = offer list price x a per-offer price ratio that follows a bounded mean-reverting
  walk around 1 (spot-like moves). It is the price of ONE instance: the service's monthly cost is
  hourly x 730 x replicas (docs/ARCHITECTURE.md, engine/scoring.py);
* latency = measured RTT from the users' region x (1 + 0.25 x diurnal load at the users' local
  time) + noise;
* credits = the provider's balance: on the live platform the store's credit ledger
  (``publish_credits``, burnt by the engine: ``telemetry/ledger.py``); otherwise the simulator's own
  ``CreditBook`` (``credits=``), burnt by the cost (hourly x replicas) of the services placed there
  (``set_placements``), with the grants' expiry and refills;
* GPU availability per (provider, region, GPU model) wanders around a provider mean and drops to 0
  during random stock-outs; 1 for pairs without a GPU;
* availability close to 0.999, a small error rate that grows with load;
* scenarios (``activate``) on top: see ``scenarios.py`` for their effects.

``noise=False`` draws every random term at its expected value (prices at list price, latency at its
diurnal mean, GPU levels at their provider mean, no random stock-outs, full availability): the
model with only its scheduled events, which the backtest's scheduled-events reference plans on.

Every value is checked in bulk before samples are built: NaN or infinity raises TelemetryError.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

import numpy as np

from swen.domain.arrays import BoolArray, FloatArray, Int64Array
from swen.domain.errors import TelemetryError
from swen.domain.models import Placement, Service, TelemetrySample
from swen.domain.sample_batch import SampleBatch, SampleGroups
from swen.telemetry import model as m
from swen.telemetry.catalog import Catalog
from swen.telemetry.clock import SimClock, SteppingClock
from swen.telemetry.credits import CreditBook, Credits
from swen.telemetry.pairs import PairIndex, build_pairs
from swen.telemetry.scenarios import Scenario, ScenarioKind

__all__ = ["ActiveScenario", "SampleArrays", "SimClock", "Simulator", "SteppingClock"]

_log = logging.getLogger(__name__)
MAX_HOURLY_COST_USD = 1e6
MAX_LATENCY_MS = 600_000.0
"""The upper bounds of TelemetrySample's fields."""
METRICS = ("hourly_cost_usd", "latency_ms", "credits_usd", "gpu_availability", "availability", "error_rate")


@dataclass(frozen=True)
class SampleArrays:
    """One step's samples: row i of every array is pair i of ``index``."""

    ts: datetime
    index: PairIndex
    hourly_cost_usd: FloatArray
    latency_ms: FloatArray
    credits_usd: FloatArray
    gpu_availability: FloatArray
    availability: FloatArray
    error_rate: FloatArray
    groups: SampleGroups | None = None
    """Who each row is, names checked (``Simulator.groups``: built once per fleet); None: built from
    ``index`` when wanted."""

    def validate(self) -> None:
        for name in METRICS:
            values: FloatArray = getattr(self, name)
            bad = np.flatnonzero(~np.isfinite(values))
            if bad.size:
                i = int(bad[0])
                where = (
                    f"{self.index.service_names[self.index.pair_service[i]]} on "
                    f"{self.index.placements[self.index.pair_placement[i]]}"
                )
                raise TelemetryError(
                    f"{name} is {values[i]} for {where} ({bad.size} non-finite values)",
                    hint="telemetry values must be finite numbers; check the scenario "
                    "magnitudes and the catalog prices",
                )

    def to_batch(self) -> SampleBatch:
        """The step as one ``SampleBatch`` (the store's columnar write path): NaN or infinity raises
        TelemetryError as in ``to_samples``, other out-of-range values InvalidInputError."""
        self.validate()
        return SampleBatch.checked(
            self.ts,
            self.groups or groups_of(self.index),
            **{name: getattr(self, name) for name in METRICS},
        )

    def to_samples(self) -> list[TelemetrySample]:
        """Build samples; values were validated in bulk, so no per-sample validation runs."""
        self.validate()
        idx = self.index
        names = [idx.service_names[i] for i in idx.pair_service.tolist()]
        places = [idx.placements[i] for i in idx.pair_placement.tolist()]
        types = [idx.offers[i].instance_type for i in idx.pair_offer.tolist()]
        columns = zip(
            names,
            places,
            types,
            self.hourly_cost_usd.tolist(),
            self.latency_ms.tolist(),
            self.credits_usd.tolist(),
            self.gpu_availability.tolist(),
            self.availability.tolist(),
            self.error_rate.tolist(),
            idx.pair_simulated.tolist(),
            strict=True,
        )
        return [
            TelemetrySample.model_construct(
                service=name,
                provider=place.provider,
                region=place.region,
                ts=self.ts,
                instance_type=itype,
                hourly_cost_usd=cost,
                latency_ms=lat,
                credits_usd=cred,
                gpu_availability=gpu,
                availability=avail,
                error_rate=err,
                simulated_price=sim,
            )
            for name, place, itype, cost, lat, cred, gpu, avail, err, sim in columns
        ]


def groups_of(index: PairIndex) -> SampleGroups:
    """The pairs' names as checked ``SampleGroups`` (row i is pair i)."""
    places = [index.placements[i] for i in index.pair_placement.tolist()]
    return SampleGroups.checked(
        [index.service_names[i] for i in index.pair_service.tolist()],
        [p.provider for p in places],
        [p.region for p in places],
        [index.offers[i].instance_type for i in index.pair_offer.tolist()],
        index.pair_simulated,
    )


@dataclass
class ActiveScenario:
    scenario: Scenario
    starts_at: float
    ends_at: float
    mask: BoolArray
    provider_index: int | None
    fired: bool = False
    pairs: Int64Array = field(init=False, repr=False)
    """The pairs ``mask`` selects, in order (indexing a few pairs instead of masking all of them)."""

    def __post_init__(self) -> None:
        self.pairs = np.flatnonzero(self.mask)


@dataclass(frozen=True)
class _Live:
    """The scenarios live from one step until ``until`` (exclusive): the next time one starts or ends.

    At 1,000 services a backtest scenario can hold hundreds of one-service cost spikes; a step reuses
    this snapshot instead of filtering them all and masking every pair once per spike."""

    scenarios: list[ActiveScenario]
    until: float
    cost_layers: tuple[tuple[Int64Array, FloatArray], ...]
    """The live cost spikes as (pairs, factors) layers: layer k multiplies each pair by its k-th live
    spike's strength, in the order of ``scenarios``, so every price gets the same multiplications in
    the same order as one spike at a time (each pair at most once per layer)."""
    health: list[ActiveScenario]
    """The live outages, latency spikes and GPU stock-outs, in order."""
    expiries: list[ActiveScenario]
    """The live credit expiries, in order."""

    @classmethod
    def of(cls, active: list[ActiveScenario], t: float) -> _Live:
        live = [a for a in active if a.starts_at <= t]
        until = min((a.ends_at if a.starts_at <= t else a.starts_at for a in active), default=np.inf)
        spikes = [a for a in live if a.scenario.kind is ScenarioKind.COST_SPIKE]
        return cls(
            scenarios=live,
            until=float(until),
            cost_layers=_layers(spikes),
            health=[a for a in live if a.scenario.kind in _HEALTH_KINDS],
            expiries=[a for a in live if a.scenario.kind is ScenarioKind.CREDIT_EXPIRY],
        )


_HEALTH_KINDS = frozenset({ScenarioKind.OUTAGE, ScenarioKind.LATENCY_SPIKE, ScenarioKind.GPU_STOCKOUT})


def _layers(spikes: list[ActiveScenario]) -> tuple[tuple[Int64Array, FloatArray], ...]:
    """``spikes``' (pairs, strengths) split into layers by how many earlier spikes hit the same pair."""
    if not spikes:
        return ()
    pairs = np.concatenate([a.pairs for a in spikes])
    strengths = np.repeat([a.scenario.strength for a in spikes], [a.pairs.size for a in spikes])
    by_pair = np.argsort(pairs, kind="stable")  # stable: a pair's spikes stay in their order
    ordered = pairs[by_pair]
    rank = np.empty(pairs.size, dtype=np.int64)
    rank[by_pair] = np.arange(pairs.size) - np.searchsorted(ordered, ordered, side="left")
    return tuple(
        (pairs[rank == k], strengths[rank == k].astype(np.float64))
        for k in range(int(rank.max(initial=-1)) + 1)
    )


class _Random(Protocol):
    def standard_normal(self, size: int) -> FloatArray: ...
    def normal(self, loc: float, scale: float, size: int) -> FloatArray: ...
    def random(self, size: int) -> FloatArray: ...


class _Expected:
    """A random source that always draws the expected value (``Simulator(noise=False)``)."""

    def standard_normal(self, size: int) -> FloatArray:
        return np.zeros(size)

    def normal(self, loc: float, scale: float, size: int) -> FloatArray:
        return np.full(size, float(loc))

    def random(self, size: int) -> FloatArray:
        return np.full(size, np.nextafter(1.0, 0.0))  # never below a start probability: no stock-outs


class Simulator:
    def __init__(
        self,
        services: Sequence[Service],
        catalog: Catalog,
        seed: int,
        start: datetime,
        interval_s: float = 5.0,
        *,
        credits: Credits | None = None,
        pairs: PairIndex | None = None,
        noise: bool = True,
    ) -> None:
        if start.tzinfo is None:
            raise TelemetryError("simulation start must be timezone-aware", hint="use a UTC datetime")
        if not interval_s > 0:
            raise TelemetryError(f"interval must be > 0 s, got {interval_s!r}", hint="use e.g. 5")
        self.services = list(services)
        self.catalog = catalog
        self.start = start.astimezone(UTC)
        self.interval_s = float(interval_s)
        self.index = pairs or build_pairs(self.services, catalog)
        self._health_kept: tuple[FloatArray, FloatArray, FloatArray, Int64Array, FloatArray] | None = None
        self._rng: _Random = np.random.default_rng(seed) if noise else _Expected()
        idx = self.index
        self._price_ratio: FloatArray = np.ones(len(idx.offers))
        gpu_means = [m.GPU_MEAN.get(idx.providers[p], m.GPU_MEAN_DEFAULT) for p in idx.gpu_market_provider]
        self._gpu_mean: FloatArray = np.asarray(gpu_means, dtype=np.float64)
        self._gpu_level: FloatArray = self._gpu_mean.copy()
        self._stockout_until: FloatArray = np.full(len(idx.gpu_markets), -np.inf)
        self.credits = CreditBook(idx.providers, credits, self.start)
        self._published: FloatArray | None = None
        self.credit_expiries: list[tuple[str, datetime]] = []
        """(provider, time) of every ``credit_expiry`` scenario that fired, oldest first (the runner
        hands them to the live ledger)."""
        self._service_pos = {name: i for i, name in enumerate(idx.service_names)}
        self._current_pair: Int64Array = self._initial_pairs()
        self._warned: set[tuple[str, Placement]] = set()
        self._last_t: float | None = None
        self._groups: SampleGroups | None = None
        self._pending: list[Scenario] = []
        self.active: list[ActiveScenario] = []
        self._live: _Live | None = None

    # --- inputs ------------------------------------------------------------------------------
    def set_placements(self, placements: Mapping[str, Placement]) -> None:
        """Where services run now (the applied placement); credits burn there.

        Services not in the fleet are ignored; a placement with no sampled pair for the service (it
        cannot run there) is logged and the previous one kept.
        """
        for name, placement in placements.items():
            s = self._service_pos.get(name)
            if s is None:
                continue
            pair = self.index.pair_for(s, placement)
            if pair is None:
                if (name, placement) not in self._warned:
                    self._warned.add((name, placement))
                    _log.warning(
                        "%s is placed on %s, which the simulator does not sample; ignored", name, placement
                    )
                continue
            self._current_pair[s] = pair

    def publish_credits(self, balances: Mapping[str, float]) -> None:
        """Samples carry these balances per provider (0 for others) instead of the simulator's own
        book: the live platform's ledger is kept in the store (``telemetry/ledger.py``)."""
        self._published = np.asarray([float(balances.get(p, 0.0)) for p in self.index.providers])

    def reprice(self, catalog: Catalog) -> int:
        """Take list prices from ``catalog`` (a refreshed version) for the offers already sampled, with
        the same placement and instance type; return how many changed. An offer the catalog no longer
        has keeps its price (logged); offers or regions it adds are sampled after a restart."""
        idx = self.index
        lookup = {(o.placement, o.instance_type): o.price_hour_usd for o in catalog.offers()}
        old = idx.offer_list_price
        new = np.asarray(
            [lookup.get((o.placement, o.instance_type), float(old[i])) for i, o in enumerate(idx.offers)],
            dtype=np.float64,
        )
        gone = [
            f"{o.placement} {o.instance_type}"
            for o in idx.offers
            if (o.placement, o.instance_type) not in lookup
        ]
        if gone:
            _log.warning(
                "repricing: %d offer(s) not in the new catalog keep their price: %s", len(gone), gone[:3]
            )
        self.index = replace(idx, offer_list_price=new)
        self.catalog = catalog
        return int(np.count_nonzero(new != old))

    def current_placement(self, service: str) -> Placement:
        return self._placement_of(self.index.service_names.index(service))

    def activate(self, scenario: Scenario, *, at: datetime | None = None) -> None:
        """Start ``scenario``'s clock at ``at`` (default: the next step's time)."""
        if at is None:
            self._pending.append(scenario)
        else:
            self._add_active(scenario, self._seconds(at))

    # --- stepping ----------------------------------------------------------------------------
    def step(self, now: datetime) -> list[TelemetrySample]:
        return self.step_arrays(now).to_samples()

    def step_batch(self, now: datetime) -> SampleBatch:
        """``step`` as columns (the same values): the live simulator's write path."""
        return self.step_arrays(now).to_batch()

    @property
    def groups(self) -> SampleGroups:
        """Every pair's names, checked once (repricing keeps the pairs and their names)."""
        if self._groups is None:
            self._groups = groups_of(self.index)
        return self._groups

    def step_arrays(self, now: datetime) -> SampleArrays:
        t = self._seconds(now)
        if self._last_t is not None and t < self._last_t:
            raise TelemetryError(
                f"time went backwards: {now.isoformat()} is before the previous step",
                hint="step with increasing times",
            )
        dt_h = (self.interval_s if self._last_t is None else t - self._last_t) / 3600.0
        self._last_t = t
        for scenario in self._pending:
            self._add_active(scenario, t)
        self._pending.clear()
        live = self._live_at(t)

        cost = self._cost(dt_h)
        for pairs, factors in live.cost_layers:
            cost[pairs] *= factors
        self._burn_credits(t, cost, dt_h, live.expiries)
        latency, availability, error_rate = self._health(now)
        gpu = self._gpu(t, dt_h)
        self._apply_health_scenarios(live.health, latency, availability, error_rate, gpu)
        ts = now.astimezone(UTC)
        # stacked scenarios (e.g. an outage plus a x1000 latency spike) are capped at the sample's bounds;
        # NaN passes through np.minimum and is caught by SampleArrays.validate
        np.minimum(cost, MAX_HOURLY_COST_USD, out=cost)
        np.minimum(latency, MAX_LATENCY_MS, out=latency)
        return SampleArrays(
            groups=self.groups,
            ts=ts,
            index=self.index,
            hourly_cost_usd=cost,
            latency_ms=latency,
            credits_usd=(self.credits.balance if self._published is None else self._published)[
                self.index.pair_provider
            ],
            gpu_availability=gpu,
            availability=availability,
            error_rate=error_rate,
        )

    # --- model parts -------------------------------------------------------------------------
    def _cost(self, dt_h: float) -> FloatArray:
        idx = self.index
        noise = self._rng.standard_normal(len(idx.offers))
        ratio = m.ou_step(self._price_ratio, 1.0, m.PRICE_STD, m.PRICE_REVERSION_PER_H, dt_h, noise)
        self._price_ratio = np.clip(ratio, m.PRICE_MIN_RATIO, m.PRICE_MAX_RATIO)
        prices: FloatArray = (idx.offer_list_price * self._price_ratio)[idx.pair_offer]
        return prices

    def _live_at(self, t: float) -> _Live:
        """The scenarios live at ``t`` (ended ones dropped from ``active``); the last snapshot while no
        scenario has started or ended since (steps go forward in time)."""
        live = self._live
        if live is None or not t < live.until:
            self.active = [a for a in self.active if a.ends_at > t]
            live = self._live = _Live.of(self.active, t)
        return live

    def _burn_credits(self, t: float, cost: FloatArray, dt_h: float, expiries: list[ActiveScenario]) -> None:
        current = self._current_pair
        burn = np.asarray(
            np.bincount(
                self.index.pair_provider[current],
                weights=cost[current] * self.index.pair_replicas[current] * dt_h,
                minlength=len(self.index.providers),
            ),
            dtype=np.float64,
        )
        self.credits.burn(t, burn)
        for a in expiries:
            if not a.fired and a.provider_index is not None:
                self.credits.expire_now(a.provider_index)
                a.fired = True
                at = self.start + timedelta(seconds=t)
                self.credit_expiries.append((self.index.providers[a.provider_index], at))

    def _health(self, now: datetime) -> tuple[FloatArray, FloatArray, FloatArray]:
        idx = self.index
        n = idx.size
        hour = now.astimezone(UTC)
        utc_hour = hour.hour + hour.minute / 60 + hour.second / 3600
        offsets, offset_of, noise_sd = self._health_columns()
        load = m.diurnal_load(utc_hour, offsets)[offset_of]  # a few distinct offsets, the same values
        rtt = idx.pair_rtt_ms
        latency = rtt * (1 + m.LATENCY_DIURNAL_AMPLITUDE * load) + noise_sd * self._rng.standard_normal(n)
        latency = np.maximum(latency, 0.98 * rtt)
        availability = np.clip(
            1 - np.abs(self._rng.normal(0, m.AVAILABILITY_NOISE, n)), m.AVAILABILITY_FLOOR_NORMAL, 1.0
        )
        error_rate = m.ERROR_RATE_BASE * (1 + load) + np.abs(self._rng.normal(0, m.ERROR_RATE_NOISE, n))
        return latency, availability, error_rate

    def _health_columns(self) -> tuple[FloatArray, Int64Array, FloatArray]:
        """(the distinct users' UTC offsets, each pair's one among them, the latency noise's sd per
        pair): what ``_health`` needs of the index every step, computed once per index columns."""
        idx = self.index
        kept = self._health_kept
        if kept is None or kept[0] is not idx.pair_users_utc_offset_h or kept[1] is not idx.pair_rtt_ms:
            offsets, offset_of = np.unique(idx.pair_users_utc_offset_h, return_inverse=True)
            noise_sd = m.LATENCY_NOISE_REL * idx.pair_rtt_ms + m.LATENCY_NOISE_ABS_MS
            kept = (idx.pair_users_utc_offset_h, idx.pair_rtt_ms, offsets, offset_of.ravel(), noise_sd)
            self._health_kept = kept
        return kept[2], kept[3], kept[4]

    def _gpu(self, t: float, dt_h: float) -> FloatArray:
        idx = self.index
        g = len(idx.gpu_markets)
        noise, start_draw, length_draw = (
            self._rng.standard_normal(g),
            self._rng.random(g),
            self._rng.random(g),
        )
        level = m.ou_step(self._gpu_level, self._gpu_mean, m.GPU_STD, m.GPU_REVERSION_PER_H, dt_h, noise)
        self._gpu_level = np.clip(level, 0.0, 1.0)
        p_start = 1.0 - np.exp(-dt_h / m.STOCKOUT_MEAN_INTERVAL_H)
        starts = (t >= self._stockout_until) & (start_draw < p_start)
        duration_s = -np.log1p(-length_draw) * m.STOCKOUT_MEAN_DURATION_H * 3600.0
        self._stockout_until = np.where(starts, t + duration_s, self._stockout_until)
        if g == 0:
            return np.ones(idx.size)
        market = np.where(t < self._stockout_until, 0.0, self._gpu_level)
        gpu: FloatArray = np.where(idx.pair_gpu_market >= 0, market[np.maximum(idx.pair_gpu_market, 0)], 1.0)
        return gpu

    def _apply_health_scenarios(
        self,
        live: list[ActiveScenario],
        latency: FloatArray,
        availability: FloatArray,
        error_rate: FloatArray,
        gpu: FloatArray,
    ) -> None:
        for a in live:
            kind, s, pairs = a.scenario.kind, a.scenario.strength, a.pairs
            if kind is ScenarioKind.OUTAGE:
                availability[pairs] = np.minimum(availability[pairs], 1 - m.OUTAGE_AVAILABILITY_LOSS * s)
                error_rate[pairs] = np.maximum(error_rate[pairs], m.OUTAGE_ERROR_RATE * s)
                latency[pairs] *= 1 + m.OUTAGE_LATENCY_FACTOR * s
            elif kind is ScenarioKind.LATENCY_SPIKE:
                latency[pairs] *= s
            elif kind is ScenarioKind.GPU_STOCKOUT:
                gpu[pairs[self.index.pair_gpu_market[pairs] >= 0]] = 0.0
        np.clip(error_rate, 0.0, 1.0, out=error_rate)

    # --- helpers -----------------------------------------------------------------------------
    def _seconds(self, when: datetime) -> float:
        if when.tzinfo is None:
            raise TelemetryError("simulation times must be timezone-aware", hint="use UTC datetimes")
        return (when - self.start).total_seconds()

    def _add_active(self, scenario: Scenario, t: float) -> None:
        idx = self.index
        if scenario.provider not in idx.providers:
            prov_mask = np.zeros(idx.size, dtype=np.bool_)
            prov_index = None
        else:
            prov_index = idx.providers.index(scenario.provider)
            prov_mask = idx.pair_provider == prov_index
        mask = prov_mask
        if scenario.region is not None:
            regions = np.asarray([p.region == scenario.region for p in idx.placements], dtype=np.bool_)
            mask = mask & regions[idx.pair_placement]
        if scenario.service is not None:
            names = np.asarray([n == scenario.service for n in idx.service_names], dtype=np.bool_)
            mask = mask & names[idx.pair_service]
        begin = t + scenario.start_offset_s
        self.active.append(ActiveScenario(scenario, begin, begin + scenario.duration_s, mask, prov_index))
        self._live = None

    def _initial_pairs(self) -> Int64Array:
        """Vectorised lookup of each service's pair on its fleet-file placement."""
        idx = self.index
        n_places = len(idx.placements)
        keys = idx.pair_service * n_places + idx.pair_placement  # sorted: pairs are ordered by service
        place_of = {p: i for i, p in enumerate(idx.placements)}
        wanted = np.asarray(
            [s * n_places + place_of[svc.fleet_placement] for s, svc in enumerate(self.services)],
            dtype=np.int64,
        )
        order = np.argsort(keys, kind="stable")
        pos = order[np.searchsorted(keys, wanted, sorter=order)]
        return np.asarray(pos, dtype=np.int64)

    def _placement_of(self, service_index: int) -> Placement:
        pair = int(self._current_pair[service_index])
        return self.index.placements[int(self.index.pair_placement[pair])]
