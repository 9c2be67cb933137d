"""Every command that takes a service name checks it against the fleet (the store's services): an
unknown name is one line listing a few known ones and a non-zero exit, never an empty answer or a
scenario that hits nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import builders
from support.cli import Swen, make_swen
from swen.config import Settings
from swen.domain.events import EventType
from swen.store.repository import Store

FLEET = [f"service-{n}" for n in range(1, 8)]


@pytest.fixture
def swen(swen_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Swen:
    monkeypatch.setenv("SWEN_HOME", str(swen_home))
    return make_swen(capsys, monkeypatch)


@pytest.fixture
def store(swen_home: Path) -> Store:
    store = Store.open(Settings(home=swen_home))
    store.upsert_services([builders.service(name) for name in FLEET])
    return store


UNKNOWN_SERVICE_COMMANDS = [
    ["scenario", "inject", "outage", "--provider", "aws", "--service", "nope"],
    ["decisions", "--service", "nope"],
    ["decisions", "--json", "--service", "nope"],
    ["mr", "list", "--service", "nope"],
    ["explain", "nope"],
]


@pytest.mark.parametrize("command", UNKNOWN_SERVICE_COMMANDS)
def test_an_unknown_service_is_one_line_listing_known_ones(
    swen: Swen, store: Store, command: list[str]
) -> None:
    run = swen(*command)
    run.assert_one_line_error(
        "unknown service 'nope': known services are service-1, service-2, service-3, service-4, "
        "service-5 and 2 more (see `swen services`)"
    )
    assert run.code == 3


def test_an_unknown_service_injects_no_scenario(swen: Swen, store: Store) -> None:
    swen("scenario", "inject", "outage", "--provider", "aws", "--service", "nope")
    assert store.events_after(0, types=[EventType.SCENARIO]) == []


def test_an_unknown_service_before_any_service_says_how_to_get_some(swen: Swen, swen_home: Path) -> None:
    Store.open(Settings(home=swen_home)).close()
    swen("decisions", "--service", "nope").assert_one_line_error(
        "unknown service 'nope': no services yet (run `swen simulate --once` or `swen up` first)"
    )


@pytest.mark.parametrize(
    "command",
    [
        ["scenario", "inject", "outage", "--provider", "aws", "--service", "service-7"],
        ["decisions", "--service", "service-7"],
        ["mr", "list", "--service", "service-7"],
    ],
)
def test_a_known_service_is_accepted(swen: Swen, store: Store, command: list[str]) -> None:
    swen(*command).assert_ok()


def _scenario_file(tmp_path: Path, *services: str) -> Path:
    path = tmp_path / "scenarios.yaml"
    items = "".join(f"  - {{kind: outage, provider: aws, service: {name}}}\n" for name in services)
    path.write_text(f"scenarios:\n{items}")
    return path


def test_a_loaded_scenario_file_naming_an_unknown_service_is_refused_whole(
    swen: Swen, store: Store, tmp_path: Path
) -> None:
    path = _scenario_file(tmp_path, "service-1", "nope")
    swen("scenario", "load", str(path)).assert_one_line_error(
        f"{path}: scenarios[1].service: unknown service 'nope': known services are service-1, service-2, "
        "service-3, service-4, service-5 and 2 more"
    )
    assert store.events_after(0, types=[EventType.SCENARIO]) == []  # not even the valid first one


def test_a_loaded_scenario_file_with_known_services_is_injected(
    swen: Swen, store: Store, tmp_path: Path
) -> None:
    swen("scenario", "load", str(_scenario_file(tmp_path, "service-1", "service-7"))).assert_ok()
    assert len(store.events_after(0, types=[EventType.SCENARIO])) == 2


def test_the_simulator_refuses_a_scenario_file_naming_a_service_outside_its_fleet(
    swen: Swen, store: Store, tmp_path: Path
) -> None:
    path = _scenario_file(tmp_path, "nope")
    run = swen("simulate", "--once", "--scenario", str(path))
    run.assert_one_line_error("scenarios[0].service: unknown service 'nope': the fleet has service-1, ")
    assert str(path) in run.err
