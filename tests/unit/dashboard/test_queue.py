"""The action queue on the AI Decisions tab: the rows shaped from a GET /actions answer."""

from __future__ import annotations

from typing import Any

from swen.api.action_schemas import ActionPage
from swen.api.schemas import DecisionOut
from swen.dashboard.tabs.queue import queue_rows, summary
from swen.domain.models import Placement

BUDGET = {
    "limits": {"fleet_mrs": 2, "fleet_applies": 5, "provider_mrs": 10, "provider_applies": 3},
    "open_mrs": 2,
    "open_mrs_by_provider": {"alibaba": 2},
    "in_flight": 1,
    "in_flight_by_provider": {"aws": 1},
    "summary": "change budget (full): 2/2 open MRs, 1/5 applies in flight (per provider: 10 MRs, 3 applies)",
}


def _action(n: int, **fields: Any) -> dict[str, Any]:
    base = {
        "id": n, "key": f"propose:d{n}", "kind": "propose", "service": f"service-{n}",
        "decision_id": f"d{n}", "mr_id": None, "provider": "alibaba", "emergency": False,
        "priority": 100.0, "state": "pending", "attempts": 0, "worker": None, "waiting": None,
        "outcome": None, "enqueued_at": "2026-12-05T03:00:00Z", "updated_at": "2026-12-05T03:00:00Z",
    }  # fmt: skip
    return base | fields


def _page(*items: dict[str, Any], pending: int, running: int = 0, done: int = 0) -> ActionPage:
    """An answer of GET /actions as the API sends it (active first, in the workers' order)."""
    counts = {"pending": pending, "running": running, "done": done, "failed": 0}
    total = sum(counts.values())
    answer = {"limit": 50, "offset": 0, "total": total, "next_offset": None, "counts": counts,
              "budget": BUDGET, "items": list(items)}  # fmt: skip
    return ActionPage.model_validate(answer)


def _decision(decision_id: str, target: str) -> DecisionOut:
    return DecisionOut.model_construct(id=decision_id, target=Placement.parse(target))


HELD = "waiting: change budget full (2 open MRs)"


def test_every_queued_move_shows_service_target_value_state_and_why_in_the_workers_order() -> None:
    page = _page(
        _action(1, kind="apply", key="apply:d1", emergency=True, priority=12.0, provider="aws"),
        _action(2, state="running", worker="w1", priority=900.0),
        _action(3, priority=640.5, waiting=HELD),
        _action(4, priority=-20.0, waiting=HELD, provider="gcp"),
        _action(5, kind="rollback", key="rollback:7", decision_id=None, mr_id=7, provider="-", priority=1e12),
        _action(6, state="done", outcome="mr_opened"),
        pending=4,
        running=1,
        done=1,
    )
    rows = queue_rows(page, [_decision("d1", "aws/eu-west-1"), _decision("d3", "alibaba/us-west-1")])
    assert [r["service"] for r in rows] == ["service-1", "service-2", "service-3", "service-4", "service-5"]
    assert rows[0] == {
        "#": "1", "service": "service-1", "move": "apply (emergency)", "target": "aws/eu-west-1",
        "net $/month": "+$12", "state": "next", "waiting": "goes when a worker is free",
    }  # fmt: skip
    assert rows[1]["state"] == "running" and rows[1]["waiting"] == "being carried out by worker w1"
    assert rows[1]["target"] == "alibaba"  # its decision is not among those read: the provider
    assert (rows[2]["target"], rows[2]["net $/month"], rows[2]["state"], rows[2]["waiting"]) == (
        "alibaba/us-west-1", "+$640", "held", HELD
    )  # fmt: skip
    assert rows[3]["net $/month"] == "-$20" and rows[3]["target"] == "gcp"
    rollback = (rows[4]["move"], rows[4]["target"], rows[4]["net $/month"])
    assert rollback == ("rollback", "rollback of MR 7", "-")
    assert summary(page, len(rows)) == f"4 pending (2 held), 1 running. {BUDGET['summary']}."


def test_a_reason_is_data_kept_as_it_came_and_a_long_queue_says_where_the_rest_is() -> None:
    odd = "waiting: <b>automation</b> is paused (`swen automation resume`) [x](http://e)"
    page = _page(_action(1, waiting=odd), pending=120)
    rows = queue_rows(page, [])
    assert rows[0]["waiting"] == odd  # a table cell is plain text: nothing is interpreted
    assert summary(page, 1).endswith("The first 1 are shown; `swen queue` lists them all.")


def test_nothing_queued_gives_no_rows() -> None:
    page = _page(_action(1, state="done"), _action(2, state="failed"), pending=0, done=1)
    assert queue_rows(page, []) == []
