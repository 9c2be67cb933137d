"""Scenario files are validated like the fleet; injection reaches a simulator through the store."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from swen.config import Settings
from swen.domain.errors import ConfigError
from swen.domain.events import EventType
from swen.store.repository import Store
from swen.telemetry.scenarios import (
    SCENARIO_CURSOR_FLAG,
    Scenario,
    ScenarioKind,
    inject_scenario,
    load_scenario_file,
    parse_scenario,
    poll_injected,
)


def _write(tmp_path: Path, scenarios: object) -> Path:
    path = tmp_path / "scenarios.yaml"
    path.write_text(yaml.safe_dump({"scenarios": scenarios}))
    return path


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_scenario_file(path)
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"{path}: ")
    return text


def test_valid_file_loads_with_defaults(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            {
                "kind": "outage",
                "provider": "aws",
                "region": "us-east-1",
                "start_offset_s": 60,
                "duration_s": 300,
            },
            {"kind": "cost_spike", "provider": "alibaba", "magnitude": 2.5},
            {"kind": "gpu_stockout", "provider": "aws", "region": "us-west-2", "service": "batch-t4"},
        ],
    )
    outage, spike, stockout = load_scenario_file(path)
    assert outage.kind is ScenarioKind.OUTAGE and outage.strength == 1.0 and outage.start_offset_s == 60
    assert spike.strength == 2.5 and spike.duration_s == 900
    assert stockout.service == "batch-t4"
    assert "outage on aws/us-east-1" in outage.describe()


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            {"kind": "meteor", "provider": "aws"},
            "scenarios[0].kind: Input should be 'outage', 'latency_spike'",
        ),
        ({"kind": "outage", "provider": "azure"}, "scenarios[0].provider: unknown provider 'azure'"),
        (
            {"kind": "outage", "provider": "aws", "region": "mars-1"},
            "scenarios[0].region: unknown region 'mars-1' for provider 'aws'",
        ),
        (
            {"kind": "outage", "provider": "AWS"},
            "scenarios[0].provider: unknown provider 'AWS': use one of aws, alibaba, gcp "
            "(provider names are lowercase: use 'aws')",
        ),
        (
            {"kind": "outage", "provider": "aws", "service": "Bad Name"},
            "scenarios[0].service: 'Bad Name' breaks",
        ),
        (
            {"kind": "cost_spike", "provider": "aws", "magnitude": -2},
            "scenarios[0].magnitude: Input should be greater than 0",
        ),
        (
            {"kind": "cost_spike", "provider": "aws", "magnitude": float("nan")},
            "scenarios[0].magnitude: nan is not a finite number",
        ),
        (
            {"kind": "outage", "provider": "aws", "magnitude": 3},
            "scenarios[0].magnitude: an outage magnitude is a severity in (0, 1]; 1 = full outage (got 3)",
        ),
        (
            {"kind": "latency_spike", "provider": "aws", "magnitude": 0.5},
            "scenarios[0].magnitude: a latency spike multiplies latency; use a magnitude >= 1 (got 0.5)",
        ),
        (
            {"kind": "outage", "provider": "aws", "duration_s": 0},
            "scenarios[0].duration_s: Input should be greater than 0",
        ),
        ({"kind": "outage", "provider": "aws", "start_offset_s": -1}, "scenarios[0].start_offset_s"),
        (
            {"kind": "outage", "provider": "aws", "severity": 1},
            "scenarios[0].severity: Extra inputs are not permitted",
        ),
        ({"provider": "aws"}, "scenarios[0].kind: Field required (add this field)"),
        ("outage", "scenarios[0]: must be a mapping"),
    ],
)
def test_bad_scenarios_give_one_line_naming_the_field(tmp_path: Path, item: object, expected: str) -> None:
    assert expected in _error(_write(tmp_path, [item]))


def test_bad_file_structure(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("kind: outage\n")
    assert "one key, 'scenarios:'" in _error(path)
    assert "scenarios: empty list" in _error(_write(tmp_path, []))
    path.write_text("scenarios: [{kind: outage\n")
    assert "not valid YAML" in _error(path)


def test_parse_scenario_for_the_cli() -> None:
    scenario = parse_scenario({"kind": "latency_spike", "provider": "gcp", "magnitude": 4})
    assert scenario.strength == 4
    with pytest.raises(ConfigError, match=r"^scenario: provider: unknown provider 'oracle'"):
        parse_scenario({"kind": "outage", "provider": "oracle"})


def test_inject_then_poll_through_a_real_store(settings: Settings) -> None:
    store = Store.open(settings)
    try:
        assert poll_injected(store) == []
        first = Scenario(kind=ScenarioKind.OUTAGE, provider="aws", region="us-east-1")
        record = inject_scenario(store, first)
        assert record.type == EventType.SCENARIO
        store.append_event(EventType.SCENARIO, {"kind": "nonsense"})  # invalid payloads are skipped
        second = Scenario(kind=ScenarioKind.CREDIT_EXPIRY, provider="alibaba", service="service-3")
        inject_scenario(store, second)
        assert poll_injected(store) == [first, second]
        assert poll_injected(store) == []  # the cursor moved on
        assert store.get_flag(SCENARIO_CURSOR_FLAG) >= record.id
        third = Scenario(kind=ScenarioKind.GPU_STOCKOUT, provider="aws")
        inject_scenario(store, third)
    finally:
        store.close()
    reopened = Store.open(settings)  # a later simulator picks up what was injected meanwhile
    try:
        assert poll_injected(reopened) == [third]
    finally:
        reopened.close()


def test_packaged_example_file_loads() -> None:
    from importlib import resources

    path = Path(str(resources.files("swen").joinpath("data", "scenarios-example.yaml")))
    kinds = [s.kind for s in load_scenario_file(path)]
    assert set(kinds) == set(ScenarioKind)
