"""The AI Decisions tab's table: each decision's kind beside its action."""

from __future__ import annotations

from support.builders import decision
from swen.api.schemas import DecisionOut
from swen.dashboard.tabs.decisions import decision_rows
from swen.domain.decision import Decision


def _out(d: Decision) -> DecisionOut:
    return DecisionOut.model_validate(
        {**dict(d), "status": "proposed", "updated_at": d.created_at, "history": []}
    )


def test_the_action_column_names_emergencies_and_slo_repairs() -> None:
    rows = decision_rows(
        [
            _out(decision("d-price")),
            _out(decision("d-repair", slo_repair=True)),
            _out(decision("d-emergency", emergency=True)),
        ]
    )
    assert [r["action"] for r in rows] == ["migrate", "migrate (SLO repair)", "migrate (emergency)"]
