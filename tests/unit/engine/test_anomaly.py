"""The engine's anomaly detector: outages fast, sustained spikes caught, noise and blips ignored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from support.builders import telemetry_sample
from swen.domain.errors import ObservabilityError
from swen.domain.models import HOURS_PER_MONTH, TelemetrySample
from swen.engine.anomaly import Anomaly, AnomalyConfig, AnomalyDetector, AnomalyKind
from swen.telemetry.catalog import load_catalog
from swen.telemetry.credit_file import load_credit_ledger
from swen.telemetry.fleet import load_fleet_file
from swen.telemetry.scenarios import Scenario, ScenarioKind
from swen.telemetry.simulator import Simulator

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(seconds=5)
BASE_LATENCY = 80.0
BASE_HOURLY = 1.2  # $876 / month
CFG = AnomalyConfig()


def sample(
    i: int,
    *,
    service: str = "api",
    provider: str = "aws",
    region: str = "us-east-1",
    latency: float = BASE_LATENCY,
    hourly: float = BASE_HOURLY,
    availability: float = 0.999,
) -> TelemetrySample:
    return telemetry_sample(
        service,
        f"{provider}/{region}",
        ts=T0 + i * STEP,
        hourly=hourly,
        latency=latency,
        availability=availability,
        simulated_price=False,
    )


def noisy(rng: np.random.Generator, i: int, **kw: object) -> TelemetrySample:
    """A sample with the noise magnitude of the simulator: latency ~10 %, cost ~2 %, availability ~0.3 %."""
    return sample(
        i,
        latency=BASE_LATENCY * max(0.2, 1 + 0.10 * rng.standard_normal()),
        hourly=BASE_HOURLY * max(0.2, 1 + 0.02 * rng.standard_normal()),
        availability=float(np.clip(0.995 + 0.003 * rng.standard_normal(), 0, 1)),
        **kw,  # type: ignore[arg-type]
    )


def warmed(n: int = 40, seed: int = 1) -> tuple[AnomalyDetector, int]:
    detector = AnomalyDetector()
    rng = np.random.default_rng(seed)
    for i in range(n):
        assert detector.observe([noisy(rng, i)]) == []
    return detector, n


def kinds(anomalies: list[Anomaly], state: str = "firing") -> set[AnomalyKind]:
    return {a.kind for a in anomalies if a.state == state}


# --- outage ----------------------------------------------------------------------------------------


def test_outage_fires_on_the_first_collapsed_sample() -> None:
    detector, i = warmed()
    (anomaly,) = detector.observe([sample(i, availability=0.1)])
    assert anomaly.kind is AnomalyKind.OUTAGE and anomaly.firing and anomaly.new
    assert anomaly.value == pytest.approx(0.1)
    assert anomaly.baseline == pytest.approx(0.995, abs=0.01)
    assert anomaly.first_seen == T0 + i * STEP and anomaly.consecutive == 1
    assert anomaly.kind.incident_kind == "outage"
    assert detector.is_anomalous("api", "aws", "us-east-1")


def test_outage_needs_no_history() -> None:
    detector = AnomalyDetector()
    assert kinds(detector.observe([sample(0, availability=0.0)])) == {AnomalyKind.OUTAGE}


def test_degraded_availability_fires_on_the_second_sample() -> None:
    detector, i = warmed()
    assert detector.observe([sample(i, availability=0.7)]) == []
    (anomaly,) = detector.observe([sample(i + 1, availability=0.7)])
    assert anomaly.kind is AnomalyKind.OUTAGE and anomaly.new and anomaly.consecutive == 2
    assert anomaly.first_seen == T0 + i * STEP


def test_outage_reported_while_it_lasts_and_new_only_once() -> None:
    detector, i = warmed()
    reports = [detector.observe([sample(i + k, availability=0.2)]) for k in range(5)]
    assert all(kinds(r) == {AnomalyKind.OUTAGE} for r in reports)
    assert [r[0].new for r in reports] == [True, False, False, False, False]
    assert [r[0].consecutive for r in reports] == [1, 2, 3, 4, 5]
    assert {r[0].first_seen for r in reports} == {T0 + i * STEP}


# --- spikes ----------------------------------------------------------------------------------------


def test_sustained_latency_spike_fires_on_the_third_sample_without_poisoning_the_baseline() -> None:
    detector, i = warmed()
    baseline_before = detector.to_dict()["arrays"]["level"][0][0]
    assert detector.observe([sample(i, latency=200)]) == []
    assert detector.observe([sample(i + 1, latency=200)]) == []
    (anomaly,) = detector.observe([sample(i + 2, latency=200)])
    assert anomaly.kind is AnomalyKind.LATENCY_SPIKE and anomaly.new and anomaly.consecutive == 3
    assert anomaly.first_seen == T0 + i * STEP
    for k in range(3, 60):
        (anomaly,) = detector.observe([sample(i + k, latency=200)])
        assert anomaly.firing and not anomaly.new
    assert anomaly.baseline == pytest.approx(baseline_before)
    assert anomaly.baseline == pytest.approx(BASE_LATENCY, rel=0.1)
    assert anomaly.value == 200


def test_sustained_cost_spike_fires() -> None:
    detector, i = warmed()
    hits = [detector.observe([sample(i + k, hourly=BASE_HOURLY * 1.6)]) for k in range(4)]
    assert [kinds(h) for h in hits] == [set(), set(), {AnomalyKind.COST_SPIKE}, {AnomalyKind.COST_SPIKE}]
    anomaly = hits[2][0]
    assert anomaly.value == pytest.approx(BASE_HOURLY * 1.6 * HOURS_PER_MONTH)
    assert anomaly.baseline == pytest.approx(BASE_HOURLY * HOURS_PER_MONTH, rel=0.05)
    assert anomaly.kind.incident_kind == "cost"


def test_short_blip_raises_nothing_and_leaves_the_baseline_alone() -> None:
    detector, i = warmed()
    level_before = detector.to_dict()["arrays"]["level"][0][:2]  # latency, cost
    assert detector.observe([sample(i, latency=400, hourly=BASE_HOURLY * 3)]) == []
    assert detector.observe([sample(i + 1, latency=400, hourly=BASE_HOURLY * 3)]) == []
    assert detector.to_dict()["arrays"]["level"][0][:2] == level_before
    for k in range(2, 20):
        assert detector.observe([sample(i + k)]) == []


def test_a_flat_list_price_tolerates_small_changes_but_not_a_jump() -> None:
    detector = AnomalyDetector()
    for i in range(30):
        assert detector.observe([sample(i)]) == []
    for i in range(30, 40):  # +5 %: a price update, not a spike
        assert detector.observe([sample(i, hourly=BASE_HOURLY * 1.05)]) == []
    fired = [kinds(detector.observe([sample(i, hourly=BASE_HOURLY * 1.5)])) for i in range(40, 43)]
    assert fired[-1] == {AnomalyKind.COST_SPIKE}


def test_no_spike_verdict_during_warm_up() -> None:
    detector = AnomalyDetector()
    for i in range(CFG.warmup - 1):
        detector.observe([sample(i)])
    # a spike at the very start cannot be told from the normal level yet
    assert kinds(detector.observe([sample(CFG.warmup - 1, latency=500)])) == set()


def test_series_are_independent() -> None:
    detector, i = warmed()
    for k in range(30):
        detector.observe([sample(k, provider="alibaba", region="ap-southeast-1")])
    out: list[Anomaly] = []
    for k in range(4):
        out = detector.observe(
            [sample(i + k, latency=300), sample(30 + k, provider="alibaba", region="ap-southeast-1")]
        )
    assert [(a.provider, a.kind) for a in out] == [("aws", AnomalyKind.LATENCY_SPIKE)]
    assert not detector.is_anomalous("api", "alibaba", "ap-southeast-1")


def test_several_samples_of_one_series_in_one_batch_apply_in_time_order() -> None:
    detector, i = warmed()
    batch = [sample(i + k, latency=300) for k in (2, 0, 1)]  # shuffled
    (anomaly,) = detector.observe(batch)
    assert anomaly.kind is AnomalyKind.LATENCY_SPIKE and anomaly.new and anomaly.consecutive == 3
    assert anomaly.first_seen == T0 + i * STEP and anomaly.last_seen == T0 + (i + 2) * STEP


# --- noise -----------------------------------------------------------------------------------------


def test_ten_thousand_noisy_samples_raise_no_false_alarm() -> None:
    rng = np.random.default_rng(20260101)
    detector = AnomalyDetector()
    series = [(f"svc-{s}", p) for s in range(5) for p in ("aws", "alibaba", "gcp", "azure")]  # 20 series
    alarms: list[Anomaly] = []
    for i in range(600):  # 20 x 600 = 12,000 samples
        batch = [noisy(rng, i, service=svc, provider=prov, region="r1") for svc, prov in series]
        # isolated outliers (a single slow scrape, a one-off price glitch): ~0.5 % of the samples
        if rng.random() < 0.1:
            j = int(rng.integers(len(batch)))
            batch[j] = batch[j].model_copy(update={"latency_ms": batch[j].latency_ms * 4})
        alarms += detector.observe(batch)
    assert alarms == []


def test_the_noise_test_can_fail() -> None:
    """The same noise with a sustained +150 % latency step on one series is caught."""
    rng = np.random.default_rng(7)
    detector = AnomalyDetector()
    found: list[Anomaly] = []
    for i in range(200):
        s = noisy(rng, i)
        if i >= 150:
            s = s.model_copy(update={"latency_ms": s.latency_ms * 2.5})
        found += detector.observe([s])
    assert kinds(found) == {AnomalyKind.LATENCY_SPIKE}
    assert min(a.last_seen for a in found if a.new) <= T0 + 152 * STEP


# --- recovery --------------------------------------------------------------------------------------


def test_recovery_clears_after_two_normal_samples() -> None:
    detector, i = warmed()
    for k in range(5):
        detector.observe([sample(i + k, latency=250, availability=0.1)])
    assert kinds(detector.observe([sample(i + 5)]), "firing") == {
        AnomalyKind.LATENCY_SPIKE,
        AnomalyKind.OUTAGE,
    }
    cleared = detector.observe([sample(i + 6)])
    assert kinds(cleared, "resolved") == {AnomalyKind.LATENCY_SPIKE, AnomalyKind.OUTAGE}
    assert kinds(cleared, "firing") == set()
    assert all(a.first_seen == T0 + i * STEP for a in cleared)
    assert not detector.is_anomalous("api", "aws", "us-east-1")
    assert detector.active() == []
    assert detector.observe([sample(i + 7)]) == []


def test_value_hovering_near_the_threshold_does_not_flap() -> None:
    detector, i = warmed()
    for k in range(4):
        detector.observe([sample(i + k, latency=250)])
    # back below the firing threshold but above the recovery band: still firing, no clear/refire churn
    out = [detector.observe([sample(i + 4 + k, latency=[110, 250][k % 2])]) for k in range(10)]
    assert all(kinds(o) == {AnomalyKind.LATENCY_SPIKE} for o in out)
    assert not any(a.new for o in out for a in o)


def test_a_lasting_level_shift_becomes_the_new_normal() -> None:
    detector = AnomalyDetector(AnomalyConfig(rebaseline_samples=20))
    for i in range(30):
        detector.observe([sample(i)])
    results = [detector.observe([sample(30 + k, latency=300)]) for k in range(25)]
    resolved = [a for r in results for a in r if a.state == "resolved"]
    assert len(resolved) == 1 and resolved[0].rebaselined
    assert detector.observe([sample(60, latency=300)]) == []


# --- state -----------------------------------------------------------------------------------------


def _stream(seed: int) -> Iterator[list[TelemetrySample]]:
    rng = np.random.default_rng(seed)
    for i in range(80):
        s = noisy(rng, i)
        if 50 <= i < 60:
            s = s.model_copy(update={"latency_ms": 300.0, "availability": 0.3 if i < 53 else s.availability})
        yield [s, noisy(rng, i, provider="alibaba", region="ap-southeast-1")]


def test_state_round_trips_through_json_and_continues_identically() -> None:
    batches = list(_stream(3))
    straight = AnomalyDetector()
    restored = AnomalyDetector()
    for batch in batches[:55]:
        straight.observe(batch)
        restored.observe(batch)
    restored = AnomalyDetector.from_dict(json.loads(json.dumps(restored.to_dict())))
    assert restored.active() == straight.active() != []
    for batch in batches[55:]:
        assert restored.observe(batch) == straight.observe(batch)
    assert restored.to_dict() == straight.to_dict()


def test_empty_detector_round_trips() -> None:
    restored = AnomalyDetector.from_dict(json.loads(json.dumps(AnomalyDetector().to_dict())))
    assert restored.active() == [] and restored.observe([]) == []


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.update(version=99),
        lambda d: d.pop("arrays"),
        lambda d: d["arrays"]["level"].pop(),
        lambda d: d["config"].update(k=-1),
    ],
)
def test_damaged_state_is_refused(damage: object) -> None:
    detector, _ = warmed()
    state = json.loads(json.dumps(detector.to_dict()))
    damage(state)  # type: ignore[operator]
    with pytest.raises(ObservabilityError, match="cannot restore"):
        AnomalyDetector.from_dict(state)


def test_forget_drops_series_not_seen_since() -> None:
    detector, i = warmed()
    detector.observe([sample(i + 100, provider="alibaba", region="ap-southeast-1", availability=0.0)])
    assert detector.forget(before=T0 + (i + 50) * STEP) == 1
    assert [(a.provider, a.kind) for a in detector.active()] == [("alibaba", AnomalyKind.OUTAGE)]
    assert detector.to_dict()["keys"] == [["api", "alibaba", "ap-southeast-1"]]


# --- against the real simulator --------------------------------------------------------------------

SIM_START = datetime(2026, 1, 5, tzinfo=UTC)
SIM_STEP_S = 60.0


def _simulator(seed: int = 11) -> Simulator:
    catalog = load_catalog()
    fleet = load_fleet_file(catalog=catalog)
    return Simulator(
        fleet.services, catalog, seed, SIM_START, SIM_STEP_S, credits=load_credit_ledger().grants
    )


def _sim_run(sim: Simulator, detector: AnomalyDetector, steps: range) -> dict[int, list[Anomaly]]:
    return {k: detector.observe(sim.step(SIM_START + timedelta(seconds=SIM_STEP_S * k))) for k in steps}


def test_simulated_normal_traffic_raises_nothing() -> None:
    """20,000+ samples of the simulator's normal model (price walk, diurnal latency, noise): no alarm."""
    sim, detector = _simulator(), AnomalyDetector()
    seen, alarms = 0, []
    for k in range(400):
        batch = sim.step(SIM_START + timedelta(seconds=SIM_STEP_S * k))
        seen += len(batch)
        alarms += detector.observe(batch)
    assert seen > 20_000
    assert alarms == []


@pytest.mark.parametrize(
    ("kind", "magnitude", "expected", "within"),
    [
        (ScenarioKind.OUTAGE, 1.0, AnomalyKind.OUTAGE, 1),  # availability 0.2: the first sample
        (ScenarioKind.OUTAGE, 0.5, AnomalyKind.OUTAGE, 2),  # availability 0.6: degraded, two samples
        (ScenarioKind.LATENCY_SPIKE, 5.0, AnomalyKind.LATENCY_SPIKE, 3),
        (ScenarioKind.COST_SPIKE, 3.0, AnomalyKind.COST_SPIKE, 3),
    ],
)
def test_simulated_scenarios_are_caught_on_what_they_hit_only(
    kind: ScenarioKind, magnitude: float, expected: AnomalyKind, within: int
) -> None:
    sim, detector = _simulator(), AnomalyDetector()
    assert [a for found in _sim_run(sim, detector, range(60)).values() for a in found] == []
    onset = 60
    sim.activate(
        Scenario(kind=kind, provider="gcp", magnitude=magnitude, duration_s=20 * SIM_STEP_S),
        at=SIM_START + timedelta(seconds=SIM_STEP_S * onset),
    )
    out = _sim_run(sim, detector, range(onset, onset + 30))
    hit_pairs = {(a.service, a.provider, a.region) for found in out.values() for a in found}
    assert hit_pairs and {p for _, p, _ in hit_pairs} == {"gcp"}
    gcp_pairs = {
        (s.service, s.provider, s.region)
        for s in sim.step(SIM_START + timedelta(seconds=SIM_STEP_S * (onset + 30)))
        if s.provider == "gcp"
    }
    assert hit_pairs == gcp_pairs
    first_new = {
        (a.service, a.region): k for k, found in sorted(out.items(), reverse=True) for a in found
        if a.new and a.kind is expected
    }  # fmt: skip
    assert len(first_new) == len(gcp_pairs) and max(first_new.values()) <= onset + within - 1
    # the scenario ended after 20 samples: everything has cleared by the end of the run
    assert detector.active() == []


# --- column input ----------------------------------------------------------------------------------


def _columns(batch: list[TelemetrySample]) -> dict[str, Any]:
    return {
        "ts": np.array([s.ts.timestamp() for s in batch]),
        "latency_ms": np.array([s.latency_ms for s in batch]),
        "monthly_cost_usd": np.array([s.instance_monthly_cost_usd for s in batch]),
        "availability": np.array([s.availability for s in batch]),
    }


def test_observe_arrays_matches_observe() -> None:
    by_objects, by_columns = AnomalyDetector(), AnomalyDetector()
    for batch in _stream(5):
        keys = [(s.service, s.provider, s.region) for s in batch]
        assert by_columns.observe_arrays(keys, **_columns(batch)) == by_objects.observe(batch)
    assert by_columns.to_dict() == by_objects.to_dict()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"latency_ms": np.array([1.0, 2.0])}, "every column"),
        ({"availability": np.array([np.nan])}, "NaN"),
    ],
)
def test_observe_arrays_refuses_bad_columns(change: dict[str, Any], message: str) -> None:
    columns = {**_columns([sample(0)]), **change}
    detector = AnomalyDetector()
    with pytest.raises(ObservabilityError, match=message):
        detector.observe_arrays([("api", "aws", "us-east-1")], **columns)
    assert detector.to_dict()["keys"] == []


def test_series_ids_path_matches_the_keys_path_and_refuses_unknown_ids() -> None:
    by_keys, by_ids = AnomalyDetector(), AnomalyDetector()
    batches = list(_stream(9))
    keys = [(s.service, s.provider, s.region) for s in batches[0]]
    ids = by_ids.series_ids(keys)
    for batch in batches:
        assert [(s.service, s.provider, s.region) for s in batch] == keys
        assert by_ids.observe_arrays(ids, **_columns(batch)) == by_keys.observe_arrays(
            keys, **_columns(batch)
        )
    with pytest.raises(ObservabilityError, match="unknown series ids"):
        by_ids.observe_arrays(np.array([5]), **_columns([sample(0)]))


def test_observe_columns_reports_what_observe_reports() -> None:
    """The loop feeds the detector columns read in bulk; the verdicts and the state match the samples'."""
    from swen.domain.sample_columns import SampleColumns

    rng = np.random.default_rng(3)
    objects, columns = AnomalyDetector(), AnomalyDetector()
    batches = [[noisy(rng, i), noisy(rng, i, service="db")] for i in range(40)]
    batches += [[sample(40 + k, latency=BASE_LATENCY * 5), sample(40 + k, service="db", availability=0.0)]
                for k in range(4)]  # fmt: skip
    for batch in batches:
        assert objects.observe(batch) == columns.observe_columns(SampleColumns.from_samples(batch))
    assert objects.to_dict() == columns.to_dict()
    assert columns.observe_columns(SampleColumns.empty()) == []
