"""The simulator: deterministic, plausible shapes, and scenarios that hit only what they target."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from swen.domain.errors import TelemetryError
from swen.domain.models import Offer, Placement, Service
from swen.telemetry.catalog import Catalog, load_catalog
from swen.telemetry.clock import SimClock, SteppingClock
from swen.telemetry.credit_file import load_credit_ledger
from swen.telemetry.fleet import load_fleet_file
from swen.telemetry.network import EgressTable, LatencyTable
from swen.telemetry.scenarios import Scenario, ScenarioKind
from swen.telemetry.simulator import SampleArrays, Simulator

START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
P = Placement.parse


def _sim(seed: int = 7, interval_s: float = 5.0, **kw: object) -> Simulator:
    fleet = load_fleet_file()
    credits = kw.pop("credits", load_credit_ledger().grants)
    return Simulator(fleet.services, load_catalog(), seed, START, interval_s, credits=credits)  # type: ignore[arg-type]


def _run(sim: Simulator, steps: int, interval_s: float = 5.0) -> list[SampleArrays]:
    return [sim.step_arrays(START + timedelta(seconds=interval_s * k)) for k in range(steps)]


def _pairs(sim: Simulator, *, provider: str | None = None, region: str | None = None) -> np.ndarray:
    idx = sim.index
    mask = np.ones(idx.size, dtype=bool)
    if provider:
        mask &= np.asarray([idx.providers[p] == provider for p in idx.pair_provider])
    if region:
        mask &= np.asarray([idx.placements[p].region == region for p in idx.pair_placement])
    return mask


def test_one_sample_per_eligible_candidate_and_current() -> None:
    sim = _sim()
    samples = sim.step(START)
    keys = {(s.service, s.placement.key) for s in samples}
    assert len(keys) == len(samples)
    catalog = load_catalog()
    for service in sim.services:
        expected = {p.key for p, o, r in catalog.candidates(service) if r is None} | {
            service.fleet_placement.key
        }
        assert {k for n, k in keys if n == service.name} == expected, service.name
    assert all(s.simulated_price == (s.provider == "alibaba") for s in samples)
    assert all(s.ts == START for s in samples)


def test_same_seed_same_samples_different_seed_different() -> None:
    a, b, c = _run(_sim(seed=1), 20), _run(_sim(seed=1), 20), _run(_sim(seed=2), 20)
    for x, y in zip(a, b, strict=True):
        for metric in ("hourly_cost_usd", "latency_ms", "credits_usd", "gpu_availability", "availability"):
            assert np.array_equal(getattr(x, metric), getattr(y, metric))
    assert not np.array_equal(a[-1].latency_ms, c[-1].latency_ms)
    assert not np.array_equal(a[-1].hourly_cost_usd, c[-1].hourly_cost_usd)
    assert _sim(seed=1).step(START) == _sim(seed=1).step(START)


def test_prices_move_around_the_list_price_within_bounds() -> None:
    sim = _sim(interval_s=600)
    runs = _run(sim, 500, 600)
    idx = sim.index
    list_price = idx.offer_list_price[idx.pair_offer]  # one instance: the engine multiplies by replicas
    ratios = np.stack([r.hourly_cost_usd / list_price for r in runs])
    assert ratios.min() >= 0.85 - 1e-9 and ratios.max() <= 1.25 + 1e-9
    assert ratios.std() > 0.01
    assert abs(ratios.mean() - 1.0) < 0.03


def test_latency_is_around_the_rtt_with_a_diurnal_peak() -> None:
    sim = _sim(interval_s=3600)
    runs = _run(sim, 24 * 6, 3600)
    idx = sim.index
    # service-1's users are in us-east-1 (UTC-5): local 14:00 = 19:00 UTC, local 02:00 = 07:00 UTC
    pair = int(
        np.flatnonzero(
            (idx.pair_service == idx.service_names.index("service-1"))
            & (idx.pair_placement == idx.placements.index(P("aws/us-west-2")))
        )[0]
    )
    peak = [r.latency_ms[pair] for r in runs if r.ts.hour == 19]
    trough = [r.latency_ms[pair] for r in runs if r.ts.hour == 7]
    rtt = idx.pair_rtt_ms[pair]
    assert rtt == load_catalog().rtt_ms(P("aws/us-east-1"), P("aws/us-west-2"))
    assert np.mean(peak) > np.mean(trough) + 0.15 * rtt
    assert rtt * 0.98 <= min(trough) and max(peak) < rtt * 1.5


def test_health_is_normal_without_scenarios() -> None:
    runs = _run(_sim(), 50)
    availability = np.concatenate([r.availability for r in runs])
    errors = np.concatenate([r.error_rate for r in runs])
    assert 0.998 < availability.mean() < 1.0 and availability.min() >= 0.99
    assert 0 < errors.mean() < 0.01


def test_credits_burn_down_monotonically_then_expire() -> None:
    sim = _sim(interval_s=3600, credits={"aws": {"balance_usd": 5000, "expires_after_days": 3}})
    runs = _run(sim, 24 * 4, 3600)
    aws = _pairs(sim, provider="aws")
    balance = [float(r.credits_usd[aws][0]) for r in runs]
    assert all(np.all(r.credits_usd[aws] == r.credits_usd[aws][0]) for r in runs)  # one balance per provider
    before_expiry = balance[: 24 * 3]
    assert all(b2 < b1 for b1, b2 in itertools.pairwise(before_expiry))
    assert balance[24 * 3] == 0.0 and balance[-1] == 0.0
    alibaba = _pairs(sim, provider="alibaba")
    assert all(np.all(r.credits_usd[alibaba] == 0.0) for r in runs)  # no grant -> no credits


def test_credits_refill() -> None:
    grant = {"balance_usd": 100, "refill_usd": 1000, "refill_every_days": 1}
    sim = _sim(interval_s=3600, credits={"alibaba": grant})
    runs = _run(sim, 30, 3600)
    alibaba = _pairs(sim, provider="alibaba")
    balance = [float(r.credits_usd[alibaba][0]) for r in runs]
    assert balance[23] < balance[22] and balance[24] > balance[23] + 900


def test_burn_follows_the_applied_placement() -> None:
    still, moved = _sim(), _sim()
    moved.set_placements(
        {
            "training-a100": P("aws/us-west-2"),
            "service-2": P("alibaba/us-west-1"),
            "not-in-fleet": P("aws/us-east-1"),
        }
    )
    assert moved.current_placement("service-2") == P("alibaba/us-west-1")
    a, b = _run(still, 100)[-1], _run(moved, 100)[-1]
    alibaba = _pairs(still, provider="alibaba")
    assert b.credits_usd[alibaba][0] < a.credits_usd[alibaba][0]


def test_gpu_availability_wanders_and_stocks_out() -> None:
    sim = _sim(interval_s=600)
    runs = _run(sim, 6 * 24 * 7, 600)
    gpu_pairs = sim.index.pair_gpu_market >= 0
    gpu = np.stack([r.gpu_availability[gpu_pairs] for r in runs])
    assert np.all(np.stack([r.gpu_availability[~gpu_pairs] for r in runs]) == 1.0)
    assert (gpu == 0.0).any(), "a week of simulated time has stock-outs"
    assert (gpu == 0.0).mean() < 0.2
    assert gpu[gpu > 0].std() > 0.03
    assert 0.5 < gpu[gpu > 0].mean() < 0.95


SCENARIO_EFFECTS = [
    (ScenarioKind.OUTAGE, "availability", lambda new, old: np.all(new <= 0.2 + 1e-9)),
    (ScenarioKind.OUTAGE, "error_rate", lambda new, old: np.all(new >= 0.5 - 1e-9)),
    (ScenarioKind.OUTAGE, "latency_ms", lambda new, old: np.allclose(new, old * 10)),
    (ScenarioKind.LATENCY_SPIKE, "latency_ms", lambda new, old: np.allclose(new, old * 5)),
    (ScenarioKind.COST_SPIKE, "hourly_cost_usd", lambda new, old: np.allclose(new, old * 3)),
    (ScenarioKind.GPU_STOCKOUT, "gpu_availability", lambda new, old: np.all(new == 0.0) and np.any(old > 0)),
    (ScenarioKind.CREDIT_EXPIRY, "credits_usd", lambda new, old: np.all(new == 0.0) and np.all(old > 0)),
]


@pytest.mark.parametrize(("kind", "metric", "effect"), SCENARIO_EFFECTS)
def test_each_scenario_changes_its_metric_for_its_target_only(
    kind: ScenarioKind, metric: str, effect: object
) -> None:
    provider, region = ("alibaba", None) if kind is ScenarioKind.CREDIT_EXPIRY else ("aws", "us-east-1")
    base, hit = _sim(), _sim()
    hit.activate(
        Scenario(kind=kind, provider=provider, region=region, start_offset_s=50, duration_s=100), at=START
    )
    runs_base, runs_hit = _run(base, 40), _run(hit, 40)
    target = _pairs(base, provider=provider, region=region)
    if kind is ScenarioKind.GPU_STOCKOUT:
        target &= base.index.pair_gpu_market >= 0
    during, before = 15, 5  # t=75 s is inside [50, 150); t=25 s is before
    assert effect(getattr(runs_hit[during], metric)[target], getattr(runs_base[during], metric)[target])  # type: ignore[operator]
    assert np.array_equal(getattr(runs_hit[before], metric), getattr(runs_base[before], metric))
    others = _pairs(base, provider="gcp") | (~_pairs(base, provider=provider))
    for name in (
        "hourly_cost_usd",
        "latency_ms",
        "credits_usd",
        "gpu_availability",
        "availability",
        "error_rate",
    ):
        assert np.array_equal(
            getattr(runs_hit[during], name)[others], getattr(runs_base[during], name)[others]
        ), name
    if kind is not ScenarioKind.CREDIT_EXPIRY:  # the effect ends with the scenario
        assert np.array_equal(
            getattr(runs_hit[-1], metric)[~_pairs(base, provider=provider)],
            getattr(runs_base[-1], metric)[~_pairs(base, provider=provider)],
        )
        if kind is not ScenarioKind.COST_SPIKE:  # a cost spike also burnt credits faster
            assert np.array_equal(getattr(runs_hit[-1], metric), getattr(runs_base[-1], metric))


def test_scenario_for_one_service_only() -> None:
    base, hit = _sim(), _sim()
    hit.activate(Scenario(kind=ScenarioKind.LATENCY_SPIKE, provider="aws", service="service-1"), at=START)
    a, b = base.step_arrays(START), hit.step_arrays(START)
    mask = _pairs(base, provider="aws") & (
        base.index.pair_service == base.index.service_names.index("service-1")
    )
    assert np.allclose(b.latency_ms[mask], a.latency_ms[mask] * 5)
    assert np.array_equal(b.latency_ms[~mask], a.latency_ms[~mask])


def test_overlapping_cost_spikes_multiply_in_order_while_each_is_live() -> None:
    """Spikes that start and end at different steps, on overlapping pairs (a provider, one region of
    it, one service there): each price is its spike-free price times the strength of every spike live
    at that step, multiplied one spike at a time in activation order (the same float64 bits)."""
    spikes = [
        Scenario(
            kind=ScenarioKind.COST_SPIKE, provider="aws", magnitude=1.3, start_offset_s=10, duration_s=60
        ),
        Scenario(
            kind=ScenarioKind.COST_SPIKE,
            provider="aws",
            region="us-east-1",
            magnitude=2.7,
            start_offset_s=30,
            duration_s=20,
        ),
        Scenario(
            kind=ScenarioKind.COST_SPIKE, provider="aws", service="service-1", magnitude=0.9, duration_s=45
        ),
        Scenario(
            kind=ScenarioKind.COST_SPIKE, provider="gcp", magnitude=1.1, start_offset_s=20, duration_s=5
        ),
    ]
    base, hit = _sim(), _sim()
    for spike in spikes:
        hit.activate(spike, at=START)
    idx = base.index
    service_1 = idx.pair_service == idx.service_names.index("service-1")
    masks = [
        _pairs(base, provider="aws"),
        _pairs(base, provider="aws", region="us-east-1"),
        _pairs(base, provider="aws") & service_1,
        _pairs(base, provider="gcp"),
    ]
    changed = 0
    for k, (plain, spiked) in enumerate(zip(_run(base, 20), _run(hit, 20), strict=True)):
        expected = plain.hourly_cost_usd.copy()
        for spike, mask in zip(spikes, masks, strict=True):
            if spike.start_offset_s <= 5.0 * k < spike.start_offset_s + spike.duration_s:
                expected[mask] *= spike.strength
        assert np.array_equal(spiked.hourly_cost_usd, expected), k
        changed += not np.array_equal(expected, plain.hourly_cost_usd)
    assert 0 < changed < 20


def test_injected_scenario_starts_at_next_step() -> None:
    sim = _sim()
    sim.step(START)
    sim.activate(Scenario(kind=ScenarioKind.OUTAGE, provider="gcp", duration_s=10))
    arrays = sim.step_arrays(START + timedelta(seconds=5))
    gcp = _pairs(sim, provider="gcp")
    assert np.all(arrays.availability[gcp] <= 0.2 + 1e-9)
    later = sim.step_arrays(START + timedelta(seconds=20))
    assert np.all(later.availability[gcp] > 0.9)


def test_non_finite_values_are_rejected_in_bulk() -> None:
    sim = _sim()
    sim.step(START)
    sim._price_ratio[0] = np.nan
    with pytest.raises(TelemetryError, match=r"hourly_cost_usd is nan for .* non-finite"):
        sim.step(START + timedelta(seconds=5))


def test_time_must_not_go_backwards_and_be_aware() -> None:
    sim = _sim()
    sim.step(START + timedelta(seconds=10))
    with pytest.raises(TelemetryError, match="time went backwards"):
        sim.step(START)
    with pytest.raises(TelemetryError, match="timezone-aware"):
        sim.step(datetime(2026, 1, 5))


def test_clocks() -> None:
    wall = [100.0]
    clock = SimClock(START, speed=720, monotonic=lambda: wall[0])
    wall[0] += 5
    assert clock.now() == START + timedelta(hours=1)
    assert clock.wall_seconds_until(START + timedelta(hours=2)) == pytest.approx(5)
    assert clock.wall_seconds_until(START) == 0
    stepping = SteppingClock(START, 5)
    assert [stepping.tick(), stepping.tick()] == [START, START + timedelta(seconds=5)]
    with pytest.raises(TelemetryError):
        SimClock(START, speed=0)


def _big_catalog(regions: int) -> Catalog:
    offers = [
        Offer(
            provider="aws",
            region=f"zz-{r:02d}",
            instance_type=itype,
            vcpus=v,
            memory_gib=mem,
            gpu_name=gpu,
            gpu_count=1 if gpu else 0,
            price_hour_usd=price * (1 + r / 100),
            source="test",
        )
        for r in range(regions)
        for itype, v, mem, gpu, price in [
            ("m5.large", 2, 8, None, 0.096),
            ("g5.xlarge", 4, 16, "A10G", 1.006),
        ]
    ]
    return Catalog(offers, LatencyTable([]), EgressTable([]))


def test_ten_thousand_services_times_fifty_candidates() -> None:
    catalog = _big_catalog(50)
    services = [
        Service.model_validate(
            {
                "name": f"svc-{i}",
                "latency_slo_ms": 100,
                "shape": {"vcpus": 2, "memory_gib": 8}
                if i % 4
                else {"vcpus": 4, "memory_gib": 16, "gpu_model": "A10G", "gpu_count": 1},
                "users_region": {"provider": "aws", "region": f"zz-{i % 50:02d}"},
                "current": {"provider": "aws", "region": f"zz-{i % 50:02d}"},
            }
        )
        for i in range(10_000)
    ]
    sim = Simulator(services, catalog, 3, START, 5.0)
    assert sim.index.size == 500_000
    first = sim.step_arrays(START)
    second = sim.step_arrays(START + timedelta(seconds=5))
    second.validate()
    assert first.latency_ms.shape == second.gpu_availability.shape == (500_000,)
    assert np.isfinite(second.hourly_cost_usd).all()


def test_stacked_scenarios_stay_within_the_sample_bounds() -> None:
    sim = _sim()
    for scenario in (
        Scenario(kind=ScenarioKind.OUTAGE, provider="aws"),
        Scenario(kind=ScenarioKind.LATENCY_SPIKE, provider="aws", magnitude=1000),
        Scenario(kind=ScenarioKind.COST_SPIKE, provider="aws", magnitude=1000),
        Scenario(kind=ScenarioKind.COST_SPIKE, provider="aws", magnitude=1000),
    ):
        sim.activate(scenario, at=START)
    samples = sim.step(START)
    again = [type(s).model_validate(s.model_dump()) for s in samples]  # full validation passes
    assert max(s.latency_ms for s in again) == 600_000.0
    assert max(s.hourly_cost_usd for s in again) == 1e6


def test_placement_the_simulator_does_not_sample_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    sim = _sim()
    for _ in range(3):  # e.g. a residency-excluded region: warned once, previous placement kept
        sim.set_placements({"embeddings-t4": P("aws/us-west-2")})
    assert sim.current_placement("embeddings-t4") == P("alibaba/ap-northeast-1")
    assert len([r for r in caplog.records if "does not sample" in r.message]) == 1
