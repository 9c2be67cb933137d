"""Fleet files: the packaged default loads and makes sense; every bad input is one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from swen.config import Settings
from swen.domain.errors import ConfigError
from swen.domain.models import HOURS_PER_MONTH, Placement
from swen.telemetry.catalog import load_catalog
from swen.telemetry.credit_file import load_credit_ledger
from swen.telemetry.fleet import default_fleet_path, load_fleet, load_fleet_file

GOOD = {
    "name": "web",
    "current": "aws/us-east-1",
    "users_region": "aws/us-east-1",
    "shape": {"vcpus": 2, "memory_gib": 8},
    "latency_slo_ms": 50,
}


def _write(tmp_path: Path, services: list[dict[str, object]], **extra: object) -> Path:
    path = tmp_path / "fleet.yaml"
    # a JSON round trip unshares objects: PyYAML writes an object listed twice as an anchor and an
    # alias, which SWEN refuses
    path.write_text(yaml.safe_dump(json.loads(json.dumps({"services": services, **extra}))))
    return path


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_fleet(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(str(path) + ": ")
    return text


def test_default_fleet_has_the_seed_placement_and_gpu_services() -> None:
    fleet = load_fleet_file()
    by_name = {s.name: s for s in fleet.services}
    assert 8 <= len(by_name) <= 12
    assert by_name["service-1"].fleet_placement == Placement.parse("aws/us-east-1")
    assert by_name["service-2"].fleet_placement == Placement.parse("aws/us-east-1")
    assert by_name["service-3"].fleet_placement == Placement.parse("alibaba/ap-southeast-1")
    assert {s.shape.gpu_model for s in fleet.services} >= {"A10G", "T4", "A100"}
    assert any(s.stateful for s in fleet.services)
    assert {g.provider for g in load_credit_ledger().grants} == {"aws", "alibaba", "gcp"}


def _best_saving(service_name: str, *, with_credits: bool = False) -> tuple[float, Placement, float]:
    """Best monthly saving at list prices (plus, optionally, the target's whole credit balance spread
    over the default amortisation period, the most credits the engine could count)."""
    catalog = load_catalog()
    fleet = load_fleet_file()
    months = Settings().amortisation_months
    credits = {g.provider: g.amount_usd for g in load_credit_ledger().grants}
    service = next(s for s in fleet.services if s.name == service_name)
    current = catalog.best_offer(service.shape, service.fleet_placement)
    assert current is not None
    best = (0.0, service.fleet_placement, catalog.rtt_ms(service.users_region, service.fleet_placement))
    for placement, offer, reason in catalog.candidates(service):
        if reason is None and offer is not None:
            saving = (current.price_hour_usd - offer.price_hour_usd) * service.replicas * HOURS_PER_MONTH
            grant = credits.get(placement.provider, 0.0)
            if with_credits and grant and placement.provider != service.fleet_placement.provider:
                saving += grant / months
            if saving > best[0]:
                best = (saving, placement, catalog.rtt_ms(service.users_region, placement))
    return best


def test_default_fleet_has_one_clear_move_and_others_that_should_stay() -> None:
    saving, target, rtt = _best_saving("service-2")
    service2 = next(s for s in load_fleet() if s.name == "service-2")
    assert target == Placement.parse("alibaba/us-west-1")
    assert saving > 100  # well over the $50/month bar, before any credits
    assert (
        rtt < service2.latency_slo_ms < load_catalog().rtt_ms(service2.users_region, service2.fleet_placement)
    )
    for name in [s.name for s in load_fleet() if s.name != "service-2"]:
        assert _best_saving(name, with_credits=True)[0] < 50, name


def test_default_slos_are_met_by_the_current_rtt_except_service_2() -> None:
    catalog = load_catalog()
    for service in load_fleet():
        meets = catalog.rtt_ms(service.users_region, service.fleet_placement) < service.latency_slo_ms
        assert meets == (service.name != "service-2"), service.name


def test_a_valid_user_file_loads(tmp_path: Path) -> None:
    path = _write(tmp_path, [GOOD])
    fleet = load_fleet_file(path)
    assert [s.name for s in fleet.services] == ["web"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"name": "Bad Name"}, r"services[0].name: 'Bad Name' breaks ^[a-z][a-z0-9-]{0,62}$ (use lowercase"),
        ({"name": "../etc"}, "services[0].name: '../etc' breaks"),
        ({"current": "azure/eastus"}, "services[0].current: unknown provider 'azure' (valid providers:"),
        (
            {"current": "aws/mars-1"},
            "services[0].current: unknown region 'mars-1' for provider 'aws' (known aws",
        ),
        ({"users_region": "aws"}, "services[0].users_region: 'aws' is not 'provider/region'"),
        (
            {"shape": {"vcpus": -2, "memory_gib": 8}},
            "services[0].shape.vcpus: Input should be greater than 0",
        ),
        ({"state_gb": -1}, "services[0].state_gb: Input should be greater than or equal to 0 (got -1)"),
        ({"latency_slo_ms": float("nan")}, "services[0].latency_slo_ms: nan is not a finite number"),
        ({"latency_slo_ms": float("inf")}, "services[0].latency_slo_ms: inf is not a finite number"),
        ({"latency_slo_ms": "fast"}, "services[0].latency_slo_ms: Input should be a valid number"),
        ({"colour": "red"}, "services[0].colour: Extra inputs are not permitted"),
        (
            {"allowed_providers": ["aws", "azure"]},
            "services[0].allowed_providers[1]: unknown provider 'azure'",
        ),
        ({"allowed_regions": ["moon-1"]}, "services[0].allowed_regions[0]: unknown region 'moon-1'"),
        (
            {"shape": {"vcpus": 2, "memory_gib": 8, "gpu_model": "A10G", "gpu_count": 8}},
            "services[0].shape: no aws/us-east-1 instance with 8x A10G, >= 2 vCPU and >= 8 GiB",
        ),
        (
            {"shape": {"vcpus": 4, "memory_gib": 16, "gpu_model": "TPU", "gpu_count": 1}},
            "services[0].shape: GPU TPU not offered in aws/us-east-1",
        ),
    ],
)
def test_bad_service_fields_give_one_line_naming_the_field(
    tmp_path: Path, change: dict[str, object], expected: str
) -> None:
    path = _write(tmp_path, [{**GOOD, **change}])
    assert expected in _error(path)


def test_duplicate_names_are_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, [GOOD, {**GOOD, "name": "api"}, GOOD])
    assert "services[2].name: 'web' is already used by services[0]" in _error(path)


def test_structure_errors(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("services: [\n")
    assert "not valid YAML" in _error(path)
    path.write_text("- a\n- b\n")
    assert "must be a mapping with a 'services:' list" in _error(path)
    path.write_text("services: []\n")
    assert "services: missing or empty" in _error(path)
    path.write_text(yaml.safe_dump({"services": [GOOD], "extra": 1}))
    assert "extra: unknown top-level key" in _error(path)
    missing = tmp_path / "nope.yaml"
    assert "cannot read the file" in _error(missing)


def test_credits_in_a_fleet_file_point_to_the_ledger_file(tmp_path: Path) -> None:
    path = _write(tmp_path, [GOOD], credits={"aws": {"balance_usd": 5}})
    error = _error(path)
    assert "credits: credit grants now live in the credit ledger file" in error
    assert "SWEN_CREDITS_FILE" in error


def test_default_fleet_path_is_inside_the_package() -> None:
    assert default_fleet_path().name == "fleet.yaml"
    assert "shared" not in default_fleet_path().parts
