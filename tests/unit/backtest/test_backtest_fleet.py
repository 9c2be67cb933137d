"""The backtest's fleet generator: seeded, reproducible, and drawn from the documented distributions."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from swen.backtest.fleet import PEAK_P95_PER_RTT, FleetDistributions, GeneratedFleet, generate_fleet
from swen.domain.models import Criticality, Service
from swen.telemetry.catalog import Catalog, load_catalog
from swen.telemetry.fleet import load_fleet
from swen.telemetry.pairs import build_pairs

N = 4000


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def base() -> list[Service]:
    return load_fleet()


@pytest.fixture(scope="module")
def big(base: list[Service], catalog: Catalog) -> GeneratedFleet:
    return generate_fleet(base, N, seed=11, catalog=catalog)


def test_the_same_seed_gives_the_same_fleet_and_prices(base: list[Service], catalog: Catalog) -> None:
    a = generate_fleet(base, 300, seed=5, catalog=catalog)
    b = generate_fleet(base, 300, seed=5, catalog=catalog)
    c = generate_fleet(base, 300, seed=6, catalog=catalog)
    assert a.services == b.services
    assert a.prices is not None and b.prices is not None and c.prices is not None
    assert np.array_equal(a.prices.discount, b.prices.discount)
    assert a.services != c.services
    assert not np.array_equal(a.prices.discount, c.prices.discount)


def test_names_follow_their_archetype_and_are_unique(big: GeneratedFleet, base: list[Service]) -> None:
    names = [s.name for s in big.services]
    assert len(set(names)) == N
    assert names[0] == f"{base[0].name}-001"
    assert names[len(base)] == f"{base[0].name}-002"
    for k, service in enumerate(big.services[:50]):
        archetype = base[k % len(base)]
        assert service.name.rsplit("-", 1)[0] == archetype.name
        assert service.allowed_providers == archetype.allowed_providers
        assert service.allowed_regions == archetype.allowed_regions
        assert service.shape.gpu_model == archetype.shape.gpu_model


def test_every_service_can_run_where_it_starts(big: GeneratedFleet, catalog: Catalog) -> None:
    for service in big.services:
        assert service.allows(service.fleet_placement)
        assert catalog.best_offer(service.shape, service.fleet_placement) is not None
    build_pairs(big.services[:500], catalog)  # the simulator accepts the fleet


def share(values: list[bool]) -> float:
    return sum(values) / len(values)


def test_criticality_and_replicas_follow_the_documented_weights(big: GeneratedFleet) -> None:
    dist = FleetDistributions()
    counts = Counter(s.criticality for s in big.services)
    for level, weight in dist.criticality:
        assert counts[level] / N == pytest.approx(weight, abs=0.03), level
    replicas = Counter(s.replicas for s in big.services)
    for value, weight in dist.replicas:
        assert replicas[value] / N == pytest.approx(weight, abs=0.03), value
    assert set(replicas) == {v for v, _ in dist.replicas}
    assert set(counts) == set(Criticality)


def test_stateful_share_state_and_shapes(big: GeneratedFleet, base: list[Service]) -> None:
    cpu = [s for s in big.services if s.shape.gpu_count == 0]
    gpu = [s for s in big.services if s.shape.gpu_count > 0]
    assert share([s.stateful for s in cpu]) == pytest.approx(0.25, abs=0.03)
    assert not any(s.stateful for s in gpu)
    assert all(1.0 <= s.state_gb <= 5000.0 for s in big.services)
    # state_gb = archetype x lognormal(0, 0.8): the log-ratio has mean ~0 and sd ~0.8 (before clipping)
    ratios = [
        np.log(s.state_gb / base[k % len(base)].state_gb)
        for k, s in enumerate(big.services)
        if 1.0 < s.state_gb < 5000.0
    ]
    assert float(np.mean(ratios)) == pytest.approx(0.0, abs=0.06)
    assert float(np.std(ratios)) == pytest.approx(0.8, abs=0.06)
    by_name = {b.name: b for b in base}
    scaled = [s for s in cpu if s.shape != by_name[s.name.rsplit("-", 1)[0]].shape]
    assert 0.2 < len(scaled) / len(cpu) < 0.5  # half the draws ask for 0.5x or 2x; most fit an offer
    for s in gpu:
        assert s.shape == by_name[s.name.rsplit("-", 1)[0]].shape


def test_users_placements_and_slos(big: GeneratedFleet, base: list[Service], catalog: Catalog) -> None:
    arche = [base[k % len(base)] for k in range(N)]
    same_users = share([s.users_region == a.users_region for s, a in zip(big.services, arche, strict=True)])
    # kept with 0.6, and a redraw lands on the same region 1 time in len(AWS regions) (every archetype's
    # users are on AWS)
    assert {a.users_region.provider for a in arche} == {"aws"}
    assert same_users == pytest.approx(0.6 + 0.4 / len(catalog.regions("aws")), abs=0.04)
    same_place = share(
        [s.fleet_placement == a.fleet_placement for s, a in zip(big.services, arche, strict=True)]
    )
    assert 0.75 <= same_place <= 0.85
    fits = [
        s.latency_slo_ms >= PEAK_P95_PER_RTT * catalog.rtt_ms(s.users_region, s.fleet_placement) + 1.0
        for s in big.services
    ]
    assert share(fits) >= 0.9
    assert all(20.0 <= s.latency_slo_ms <= 2000.0 for s in big.services)


def test_each_service_has_its_own_price_path(big: GeneratedFleet, catalog: Catalog) -> None:
    prices = big.prices
    assert prices is not None
    assert prices.discount.shape == (N, len(catalog.providers()))
    assert prices.discount.min() >= 0.85 and prices.discount.max() <= 1.0
    assert prices.discount.std() > 0.03
    services = big.services[:40]
    index = build_pairs(services, catalog)
    flat = np.ones(index.size)
    quiet = prices.stepper(index, noise=False)
    first = quiet.apply(flat, 1 / 12)
    expected = prices.discount[
        index.pair_service, [prices.providers.index(index.providers[p]) for p in index.pair_provider]
    ]
    assert np.allclose(first, expected)
    assert np.allclose(quiet.apply(flat, 1 / 12), first)  # no noise: the discount only
    walking = prices.stepper(index, noise=True)
    steps = np.array([walking.apply(flat, 1 / 12) for _ in range(300)]) / expected
    assert steps.min() >= 0.9 - 1e-9 and steps.max() <= 1.1 + 1e-9
    # two services on the same offer no longer share a path
    a, b = index.pairs_of(0)[0], index.pairs_of(len(base_names(services)))[0]
    assert not np.allclose(steps[:, a], steps[:, b])


def base_names(services: list[Service]) -> list[str]:
    return sorted({s.name.rsplit("-", 1)[0] for s in services})
