"""Publishing a cycle: recommendations into a real Store, the cycle into ai_decisions.json atomically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_factories import ALI_SG, US_EAST, cell, make_scenario, service

from swen.domain.decision import DecisionAction, DecisionStatus
from swen.domain.errors import EngineError
from swen.engine.decide import EngineResult
from swen.engine.publish import (
    DOCUMENT_SCHEMA,
    decisions_document,
    publish,
    service_rows,
    write_json_atomic,
)
from swen.store.repository import Store


def two_services() -> EngineResult:
    scenario = make_scenario(
        [service("mover", US_EAST), service("stayer", US_EAST)],
        {
            ("mover", US_EAST): cell(hourly=1.0),
            ("mover", ALI_SG): cell(hourly=0.7, latency=22),
            ("stayer", US_EAST): cell(hourly=1.0),
            ("stayer", ALI_SG): cell(hourly=0.98, latency=22),
        },
    )
    return scenario.run(10)


def test_publish_stores_recommendations_and_writes_the_cycle(database_url: str, swen_home: Path) -> None:
    result = two_services()
    path = swen_home / "ai_decisions.json"
    store = Store.from_url(database_url)
    try:
        assert publish(result, store=store, decisions_path=path) == 1
        publish(result, store=store, decisions_path=path)  # same cycle again: idempotent
        stored = store.list_decisions()
        assert [s.decision.service for s in stored] == ["mover"]
        assert stored[0].status is DecisionStatus.PROPOSED
        assert stored[0].decision == result.recommendations[0]
    finally:
        store.close()
    doc = json.loads(path.read_text())
    assert doc["schema"] == DOCUMENT_SCHEMA
    assert doc["counts"] == {"services": 2, "migrate": 1, "emergency": 0, "stay": 1, "at_best": 0}
    assert [d["service"] for d in doc["recommendations"]] == ["mover"]
    rows = {r["service"]: r for r in doc["services"]}
    assert rows["mover"]["action"] == DecisionAction.MIGRATE.value
    assert rows["mover"]["decision_id"] == result.recommendations[0].id
    assert rows["mover"]["unmet"] == []
    assert rows["stayer"]["action"] == "stay" and rows["stayer"]["best"] == ALI_SG.key
    assert set(rows["stayer"]["unmet"]) == {"confidence", "savings"}
    assert not [p.name for p in swen_home.iterdir() if p.name.endswith(".tmp")]  # no temporary left


def test_failed_write_keeps_the_previous_file(swen_home: Path) -> None:
    path = swen_home / "ai_decisions.json"
    write_json_atomic(path, {"generation": 1})
    with pytest.raises(EngineError, match="could not write"):
        write_json_atomic(path, {"generation": float("nan")})  # refused before it can replace anything
    assert json.loads(path.read_text()) == {"generation": 1}
    assert [p.name for p in swen_home.iterdir()] == ["ai_decisions.json"]


def test_services_on_their_best_placement_are_only_counted(swen_home: Path) -> None:
    scenario = make_scenario(
        [service("home", US_EAST)], {("home", US_EAST): cell(hourly=1.0), ("home", ALI_SG): cell(hourly=2.0)}
    )
    result = scenario.run(2)
    doc = decisions_document(result)
    assert doc["services"] == [] and doc["counts"]["at_best"] == 1
    assert [r["unmet"] for r in service_rows(result, include_at_best=True)] == [["current_best"]]
