"""A diverse fleet for ``--services N``: seeded draws around the fleet file's services.

Service k (k = 0 .. N-1) starts from the fleet file's service ``k mod F`` (its *archetype*: it keeps
the archetype's residency rules, GPU model and name, suffixed ``-001``, ``-002``, ... so that a
scenario aimed at a service applies to each service drawn from it) and draws the rest from one
``numpy`` generator seeded with the replay's seed, in service order, so the same seed and N always
give the same fleet. The distributions (``FleetDistributions``, documented in docs/BACKTESTING.md):

* shape: CPU services scale vCPUs and memory by 0.5, 1 or 2 (probabilities 0.25/0.5/0.25), kept
  only when the starting placement still has an offer that fits; GPU services keep their shape;
* replicas: 1, 2, 3, 4 or 6 (0.35/0.30/0.15/0.12/0.08);
* users' region: the archetype's with probability 0.6, else uniform over the catalog's regions of the
  archetype's users' provider;
* starting placement: the archetype's with probability 0.75, else uniform over the placements the
  service may run on (residency, an offer for its shape);
* latency SLO: the archetype's x lognormal(0, 0.3), clipped to [20, 2000] ms; then, for 90 % of
  services (teams set SLOs their service meets), raised to at least the peak p95 at the starting
  placement (1.35 x RTT + 1 ms) x a headroom drawn uniform in [1.2, 2.0]; the other 10 % keep the
  drawn SLO and may start out of it (like the fleet file's service-2);
* criticality: low/medium/high/critical with 0.30/0.40/0.20/0.10;
* stateful: CPU services with probability 0.25 (GPU services stay stateless);
* state: the archetype's state_gb x lognormal(0, 0.8), clipped to [1, 5000] GB;
* price path: each service gets a price factor per provider, ``discount x walk``: a negotiated
  discount drawn uniform in [0.85, 1.0] (per service and provider) and its own mean-reverting walk
  around 1 (stationary std drawn uniform in [0.01, 0.04], reversion 0.5/h, bounded to [0.9, 1.1]).
  The simulator's per-offer price noise and the scenario's price events come on top, so services on
  the same offer no longer share one price path.

``N`` equal to the fleet file's size keeps the file's services as they are (no draws, no factors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from swen.domain.arrays import FloatArray, Int64Array
from swen.domain.errors import ConfigError
from swen.domain.models import Criticality, Placement, Service
from swen.telemetry import model as m
from swen.telemetry.catalog import Catalog
from swen.telemetry.pairs import PairIndex

MAX_SERVICES = 100_000
PEAK_P95_PER_RTT = 1.35
"""p95 at the users' peak hour over the RTT (telemetry.model: RTT x 1.25 at peak, plus noise)."""


@dataclass(frozen=True)
class FleetDistributions:
    """The generator's distributions (module docstring); change a copy to draw another fleet."""

    cpu_scale: tuple[tuple[float, float], ...] = ((0.5, 0.25), (1.0, 0.5), (2.0, 0.25))
    replicas: tuple[tuple[int, float], ...] = ((1, 0.35), (2, 0.30), (3, 0.15), (4, 0.12), (6, 0.08))
    keep_users_region: float = 0.6
    keep_placement: float = 0.75
    slo_sigma: float = 0.3
    slo_ms: tuple[float, float] = (20.0, 2000.0)
    slo_fits_share: float = 0.9
    slo_headroom: tuple[float, float] = (1.2, 2.0)
    criticality: tuple[tuple[Criticality, float], ...] = (
        (Criticality.LOW, 0.30),
        (Criticality.MEDIUM, 0.40),
        (Criticality.HIGH, 0.20),
        (Criticality.CRITICAL, 0.10),
    )
    stateful_share: float = 0.25
    state_sigma: float = 0.8
    state_gb: tuple[float, float] = (1.0, 5000.0)
    discount: tuple[float, float] = (0.85, 1.0)
    walk_std: tuple[float, float] = (0.01, 0.04)
    walk_reversion_per_h: float = 0.5
    walk_bounds: tuple[float, float] = (0.9, 1.1)


@dataclass(frozen=True, eq=False)
class PricePaths:
    """Per-service price factors (S x providers): a fixed discount times a mean-reverting walk."""

    providers: tuple[str, ...]
    discount: FloatArray
    walk_std: FloatArray
    """Per service."""
    seed: int
    dist: FleetDistributions = field(default_factory=FleetDistributions)

    def stepper(self, index: PairIndex, *, noise: bool = True) -> PriceStepper:
        return PriceStepper(self, index, noise=noise)


class PriceStepper:
    """Steps the walks and multiplies a step's pair prices by each pair's service factor."""

    def __init__(self, paths: PricePaths, index: PairIndex, *, noise: bool) -> None:
        k = len(paths.providers)
        column = np.asarray([paths.providers.index(p) for p in index.providers], dtype=np.int64)
        self._cell = index.pair_service * k + column[index.pair_provider]
        self._discount = paths.discount.ravel()
        self._std = np.repeat(paths.walk_std, k)
        self._walk = np.ones(self._discount.size)
        self._rng = np.random.default_rng([paths.seed, 7]) if noise else None
        self._dist = paths.dist

    @property
    def cell(self) -> Int64Array:
        """Each pair's factor cell (service x provider) in :meth:`factors`."""
        return self._cell

    def factors(self, dt_h: float) -> FloatArray:
        """Step the walks by ``dt_h`` hours; this step's factor of every cell (service x provider)."""
        if self._rng is not None:
            noise = self._rng.standard_normal(self._walk.size)
            walk = m.ou_step(self._walk, 1.0, 1.0, self._dist.walk_reversion_per_h, dt_h, noise * self._std)
            self._walk = np.clip(walk, *self._dist.walk_bounds)
        out: FloatArray = self._discount * self._walk
        return out

    def apply(self, hourly: FloatArray, dt_h: float) -> FloatArray:
        """Step the walks and return ``hourly`` (pair prices) times each pair's factor."""
        out: FloatArray = hourly * self.factors(dt_h)[self._cell]
        return out


@dataclass(frozen=True, eq=False)
class GeneratedFleet:
    services: list[Service]
    prices: PricePaths | None
    """None when the fleet file's services are used as they are."""


def generate_fleet(
    base: Sequence[Service],
    count: int,
    *,
    seed: int,
    catalog: Catalog,
    dist: FleetDistributions | None = None,
) -> GeneratedFleet:
    """``count`` services drawn around ``base`` (module docstring)."""
    if not 1 <= count <= MAX_SERVICES:
        raise ConfigError(
            f"--services {count} is out of range", hint=f"use 1..{MAX_SERVICES}", source="--services"
        )
    if count == len(base):
        return GeneratedFleet(list(base), None)
    dist = dist or FleetDistributions()
    rng = np.random.default_rng([seed, 1])
    placements = catalog.placements()
    out: list[Service] = []
    for k in range(count):
        archetype = base[k % len(base)]
        copy = k // len(base) + 1
        suffix = f"{copy:03d}" if copy < 1000 else f"{copy:05d}"
        name = f"{archetype.name[: 63 - len(suffix) - 1]}-{suffix}"
        out.append(_draw(rng, archetype, name, catalog, placements, dist))
    providers = tuple(catalog.providers())
    lo, hi = dist.discount
    discount = rng.uniform(lo, hi, size=(count, len(providers)))
    walk_std = rng.uniform(*dist.walk_std, size=count)
    return GeneratedFleet(out, PricePaths(providers, discount, walk_std, seed, dist))


def _choice(rng: np.random.Generator, options: Sequence[tuple[object, float]]) -> object:
    weights = np.asarray([w for _, w in options], dtype=np.float64)
    return options[int(rng.choice(len(options), p=weights / weights.sum()))][0]


def _draw(
    rng: np.random.Generator,
    archetype: Service,
    name: str,
    catalog: Catalog,
    placements: Sequence[Placement],
    dist: FleetDistributions,
) -> Service:
    # every draw happens for every service, in the same order, so one service's outcome never shifts
    # the draws of the next one
    scale = float(_choice(rng, dist.cpu_scale))  # type: ignore[arg-type]
    replicas = int(_choice(rng, dist.replicas))  # type: ignore[call-overload]
    keep_users = rng.random() < dist.keep_users_region
    users_pick = rng.random()
    keep_place = rng.random() < dist.keep_placement
    place_pick = rng.random()
    slo_factor = float(rng.lognormal(0.0, dist.slo_sigma))
    slo_fits = rng.random() < dist.slo_fits_share
    headroom = float(rng.uniform(*dist.slo_headroom))
    criticality = _choice(rng, dist.criticality)
    stateful_draw = rng.random() < dist.stateful_share
    state_factor = float(rng.lognormal(0.0, dist.state_sigma))

    gpu = archetype.shape.gpu_count > 0
    shape = archetype.shape
    if not gpu and scale != 1.0:
        scaled = shape.model_copy(
            update={
                "vcpus": max(1, round(shape.vcpus * scale)),
                "memory_gib": max(1.0, shape.memory_gib * scale),
            }
        )
        if catalog.best_offer(scaled, archetype.fleet_placement) is not None:
            shape = scaled
    users = archetype.users_region
    if not keep_users:
        regions = [p for p in placements if p.provider == users.provider]
        users = regions[min(int(users_pick * len(regions)), len(regions) - 1)]
    current = archetype.fleet_placement
    candidate = archetype.model_copy(update={"shape": shape})
    if not keep_place:
        hosts = [p for p in placements if candidate.allows(p) and catalog.best_offer(shape, p) is not None]
        if hosts:
            current = hosts[min(int(place_pick * len(hosts)), len(hosts) - 1)]
    lo, hi = dist.slo_ms
    slo = float(np.clip(archetype.latency_slo_ms * slo_factor, lo, hi))
    if slo_fits:
        peak_p95 = PEAK_P95_PER_RTT * catalog.rtt_ms(users, current) + 1.0
        slo = float(min(max(slo, peak_p95 * headroom), hi))
    lo_gb, hi_gb = dist.state_gb
    state_gb = float(np.clip(archetype.state_gb * state_factor, lo_gb, hi_gb))
    return archetype.model_copy(
        update={
            "name": name,
            "shape": shape,
            "replicas": replicas,
            "users_region": users,
            "fleet_placement": current,
            "latency_slo_ms": round(slo, 1),
            "criticality": criticality,
            "stateful": stateful_draw and not gpu,
            "state_gb": round(state_gb, 1),
        }
    )
