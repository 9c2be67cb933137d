"""The cycle summary document (ai_decisions.json): recommendations in full, compact rows, counts."""

from __future__ import annotations

import json
from pathlib import Path

from engine_factories import ALI_SG, US_EAST, cell, make_scenario

from support.builders import service
from swen.domain.decision import DecisionAction
from swen.engine.decide import EngineResult
from swen.engine.summary import DOCUMENT_SCHEMA, decisions_document, service_rows


def two_services() -> EngineResult:
    scenario = make_scenario(
        [service("mover", fleet_placement=US_EAST), service("stayer", fleet_placement=US_EAST)],
        {
            ("mover", US_EAST): cell(hourly=1.0),
            ("mover", ALI_SG): cell(hourly=0.7, latency=22),
            ("stayer", US_EAST): cell(hourly=1.0),
            ("stayer", ALI_SG): cell(hourly=0.98, latency=22),
        },
    )
    return scenario.run(10)


def test_document_lists_recommendations_and_why_others_stay() -> None:
    result = two_services()
    doc = json.loads(json.dumps(decisions_document(result), allow_nan=False))  # plain JSON data
    assert doc["schema"] == DOCUMENT_SCHEMA
    assert doc["counts"] == {"services": 2, "migrate": 1, "emergency": 0, "stay": 1, "at_best": 0}
    assert [d["service"] for d in doc["recommendations"]] == ["mover"]
    rows = {r["service"]: r for r in doc["services"]}
    assert rows["mover"]["action"] == DecisionAction.MIGRATE.value
    assert rows["mover"]["decision_id"] == result.recommendations[0].id
    assert rows["mover"]["unmet"] == []
    assert rows["stayer"]["action"] == "stay" and rows["stayer"]["best"] == ALI_SG.key
    assert set(rows["stayer"]["unmet"]) == {"confidence", "savings"}


def test_services_on_their_best_placement_are_only_counted(swen_home: Path) -> None:
    scenario = make_scenario(
        [service("home", fleet_placement=US_EAST)],
        {("home", US_EAST): cell(hourly=1.0), ("home", ALI_SG): cell(hourly=2.0)},
    )
    result = scenario.run(2)
    doc = decisions_document(result)
    assert doc["services"] == [] and doc["counts"]["at_best"] == 1
    assert [r["unmet"] for r in service_rows(result, include_at_best=True)] == [["current_best"]]
