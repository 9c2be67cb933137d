"""Backtest files: the packaged scenarios, header validation, scaled fleets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from swen.backtest.spec import expand_scenarios, load_spec, packaged_names, scaled_fleet
from swen.domain.errors import ConfigError
from swen.telemetry.fleet import load_fleet
from swen.telemetry.scenarios import Scenario, ScenarioKind

SHIPPED = ("calm-month", "gpu-scarcity", "price-war", "provider-outages")


def write(tmp_path: Path, data: object) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def test_four_documented_scenarios_are_packaged() -> None:
    assert set(SHIPPED) <= set(packaged_names())
    docs = Path(__file__).resolve().parents[3] / "docs" / "BACKTESTING.md"
    text = docs.read_text(encoding="utf-8")
    for name in SHIPPED:
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


def test_scaled_fleet_replicates_in_order_with_suffixes() -> None:
    fleet = load_fleet()
    assert scaled_fleet(fleet, len(fleet)) == fleet
    scaled = scaled_fleet(fleet, 25)
    assert [s.name for s in scaled[:2]] == ["service-1-001", "service-2-001"]
    assert scaled[10].name == "service-1-002"
    assert scaled[24].name == f"{fleet[4].name}-003"
    assert all(a.model_copy(update={"name": b.name}) == b for a, b in zip(fleet * 3, scaled, strict=False))
    with pytest.raises(ConfigError):
        scaled_fleet(fleet, 0)


def test_a_scenario_for_one_service_hits_all_its_replicas() -> None:
    scaled = scaled_fleet(load_fleet(), 30)
    targeted = Scenario(kind=ScenarioKind.COST_SPIKE, provider="aws", service="service-2")
    broad = Scenario(kind=ScenarioKind.OUTAGE, provider="aws")
    out = expand_scenarios([targeted, broad], scaled)
    assert sorted(s.service for s in out if s.service) == ["service-2-001", "service-2-002", "service-2-003"]
    assert broad in out
