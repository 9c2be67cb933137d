"""Backtest files: the packaged scenarios, header validation, scaled fleets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from swen.backtest.fleet import generate_fleet
from swen.backtest.spec import SHIPPED_SCENARIOS, expand_scenarios, load_spec, packaged_names
from swen.domain.errors import ConfigError
from swen.domain.models import Criticality
from swen.telemetry.catalog import load_catalog
from swen.telemetry.fleet import load_fleet
from swen.telemetry.scenarios import Scenario, ScenarioKind

SHIPPED = ("calm-month", "gpu-scarcity", "price-war", "provider-outages")
NEW = ("price-duel", "gpu-squeeze", "noisy-flat")
"""Scenarios the engine was not tuned on (issue 11)."""


def write(tmp_path: Path, data: object) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def test_every_documented_scenario_is_packaged() -> None:
    assert set(SHIPPED + NEW) <= set(packaged_names())
    assert sorted(SHIPPED_SCENARIOS) == packaged_names()  # the scripts' list is every packaged one
    docs = Path(__file__).resolve().parents[3] / "docs" / "BACKTESTING.md"
    text = docs.read_text(encoding="utf-8")
    for name in SHIPPED + NEW:
        spec = load_spec(name)
        assert spec.name == name
        assert spec.days == 30
        assert len(spec.description) > 80
        assert f"`{name}`" in text


def test_price_war_cuts_prices_with_magnitudes_below_one() -> None:
    spec = load_spec("price-war")
    cuts = [s for s in spec.scenarios if s.kind is ScenarioKind.COST_SPIKE]
    assert cuts and all(s.strength < 1 for s in cuts)


def test_a_path_works_as_well_as_a_name(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, {"name": "mine", "days": 2, "seed": 1, "scenarios": []}))
    assert (spec.name, spec.days, spec.seed, spec.scenarios, spec.fleet) == ("mine", 2.0, 1, (), None)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"name": "x", "scenarios": [], "colour": 1}, "colour: unknown top-level key"),
        ({"name": "Bad Name", "scenarios": []}, "name:"),
        ({"name": "x", "days": 0, "scenarios": []}, "days:"),
        ({"name": "x", "days": float("nan"), "scenarios": []}, "not a finite number"),
        ({"name": "x", "seed": -1, "scenarios": []}, "seed:"),
        ({"name": "x", "scenarios": {"kind": "outage"}}, "scenarios: must be a list"),
        ({"name": "x", "scenarios": [{"kind": "outage", "provider": "nope"}]}, "scenarios[0]"),
        ({"name": "x", "scenarios": [{"kind": "outage", "provider": "aws", "magnitude": 2}]}, "scenarios[0]"),
        ({"name": "x", "fleet": "missing.yaml", "scenarios": []}, "fleet: no file"),
        ({"name": "x", "credits": {"nope": {"balance_usd": 1}}, "scenarios": []}, "credits.'nope'"),
        ({"name": "x", "credits": {"aws": {"balance_usd": -1}}, "scenarios": []}, "credits.aws"),
        ({"name": "x", "credits": [1], "scenarios": []}, "credits: must be a mapping"),
        ({"name": "x", "migration": {"incident_min": -5}, "scenarios": []}, "migration: incident_min"),
        ({"name": "x", "migration": {"colour": 1}, "scenarios": []}, "migration: colour"),
        (["not", "a", "mapping"], "must be a mapping"),
    ],
)
def test_bad_files_are_one_clear_error(tmp_path: Path, data: object, needle: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_spec(write(tmp_path, data))
    assert needle in str(exc.value)
    assert exc.value.hint


def test_unknown_name_lists_the_packaged_ones() -> None:
    with pytest.raises(ConfigError) as exc:
        load_spec("no-such-scenario")
    assert "calm-month" in str(exc.value)


def test_a_fleet_path_is_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "fleet.yaml").write_text(
        Path(__file__).resolve().parents[3].joinpath("src/swen/data/fleet.yaml").read_text(), encoding="utf-8"
    )
    spec = load_spec(write(tmp_path, {"name": "x", "fleet": "fleet.yaml", "scenarios": []}))
    assert spec.fleet == tmp_path / "fleet.yaml"


def test_the_new_scenarios_load_with_their_events() -> None:
    duel = load_spec("price-duel")
    kinds = [s.kind for s in duel.scenarios]
    assert kinds.count(ScenarioKind.CREDIT_EXPIRY) == 1
    assert {s.provider for s in duel.scenarios if s.kind is ScenarioKind.COST_SPIKE} == {"aws", "alibaba"}
    assert {g.provider: g.amount_usd for g in duel.credits}["aws"] == 120_000
    expiry = next(s for s in duel.scenarios if s.kind is ScenarioKind.CREDIT_EXPIRY)
    assert expiry.start_offset_s == 14 * 86400  # mid-month
    squeeze = load_spec("gpu-squeeze")
    stockouts = [s for s in squeeze.scenarios if s.kind is ScenarioKind.GPU_STOCKOUT]
    assert len({(s.provider, s.region) for s in stockouts}) >= 5  # rolling from region to region
    assert any(s.kind is ScenarioKind.LATENCY_SPIKE for s in squeeze.scenarios)
    flat = load_spec("noisy-flat")
    by_provider: dict[str, float] = {}
    for s in flat.scenarios:
        assert s.kind is ScenarioKind.COST_SPIKE
        by_provider[s.provider] = by_provider.get(s.provider, 0.0) + (s.strength - 1) * s.duration_s
    # no trend: each provider's ups and downs cancel out within a day's worth of 10 %
    assert all(abs(v) <= 0.1 * 86400 for v in by_provider.values()), by_provider


def test_migration_and_credit_headers_are_read(tmp_path: Path) -> None:
    spec = load_spec(
        write(
            tmp_path,
            {
                "name": "x",
                "credits": {"gcp": {"balance_usd": 500, "expires_after_days": 3}},
                "migration": {"stateless_cutover_min": 2.5, "downtime_usd_per_min": {"low": 1.0}},
                "scenarios": [],
            },
        )
    )
    assert [(g.provider, g.amount_usd, g.expires_after_days) for g in spec.credits] == [("gcp", 500, 3)]
    assert spec.migration.stateless_cutover_min == 2.5
    assert spec.migration.downtime_usd_per_min == {Criticality.LOW: 1.0}


def test_the_fleet_file_size_keeps_the_file_as_it_is() -> None:
    fleet = load_fleet()
    same = generate_fleet(fleet, len(fleet), seed=1, catalog=load_catalog())
    assert same.services == fleet and same.prices is None
    with pytest.raises(ConfigError):
        generate_fleet(fleet, 0, seed=1, catalog=load_catalog())


def test_a_scenario_for_one_service_hits_every_service_drawn_from_it() -> None:
    scaled = generate_fleet(load_fleet(), 30, seed=4, catalog=load_catalog()).services
    targeted = Scenario(kind=ScenarioKind.COST_SPIKE, provider="aws", service="service-2")
    broad = Scenario(kind=ScenarioKind.OUTAGE, provider="aws")
    out = expand_scenarios([targeted, broad], scaled)
    assert sorted(s.service for s in out if s.service) == ["service-2-001", "service-2-002", "service-2-003"]
    assert broad in out
