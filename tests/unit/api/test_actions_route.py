"""GET /actions: the action queue and the change budget over the API (role: viewer)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from support.builders import decision
from support.http import bearer
from swen.domain.keys import Role
from swen.domain.merge_requests import MRKind
from swen.moves.queue import action_for
from swen.store.actions import ActionQueue
from swen.store.mrs import MergeRequestRepository
from swen.store.repository import Store


def _queued(store: Store, decision_id: str, **kwargs: object) -> None:
    d = decision(decision_id, service=f"svc-{decision_id}", **kwargs)  # type: ignore[arg-type]
    store.save_decision(d)
    ActionQueue(store).enqueue([action_for(d)])


def test_the_queue_says_why_moves_wait_when_the_budget_is_full(
    client: TestClient, store: Store, keys: dict[Role, str]
) -> None:
    mrs = MergeRequestRepository(store)
    for n in range(20):
        d = decision(f"open{n}", service=f"open{n}")
        store.save_decision(d)
        mrs.create(decision_id=d.id, service=d.service, branch=f"ai-rec/open{n}", host="local", title="t",
                   description="d", kind=MRKind.MIGRATION)  # fmt: skip
    _queued(store, "small", net_monthly=80.0)
    _queued(store, "big", net_monthly=800.0)
    _queued(store, "fire", emergency=True, net_monthly=-5.0)

    r = client.get("/actions", headers=bearer(keys[Role.VIEWER]))

    assert r.status_code == 200, r.text
    page = r.json()
    assert page["counts"] == {"pending": 3, "running": 0, "done": 0, "failed": 0} and page["total"] == 3
    assert page["budget"]["open_mrs"] == 20 and page["budget"]["limits"]["fleet_mrs"] == 20
    assert "(full)" in page["budget"]["summary"]
    rows = [(a["key"], a["waiting"]) for a in page["items"]]
    assert rows == [
        ("propose:fire", None),  # an emergency is never held
        ("propose:big", "waiting: change budget full (20 open MRs)"),
        ("propose:small", "waiting: change budget full (20 open MRs)"),
    ]


def test_state_filter_and_bad_state(client: TestClient, store: Store, keys: dict[Role, str]) -> None:
    _queued(store, "one")
    viewer = bearer(keys[Role.VIEWER])
    done = client.get("/actions?state=done", headers=viewer).json()
    assert done["items"] == [] and done["total"] == 0
    pending = client.get("/actions?state=pending&limit=1", headers=viewer).json()
    assert [a["key"] for a in pending["items"]] == ["propose:one"] and pending["next_offset"] is None
    bad = client.get("/actions?state=sleeping", headers=viewer)
    assert 400 <= bad.status_code < 500 and "state" in bad.text
