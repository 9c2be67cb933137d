"""Decisions: save (idempotent), get, list filters and pages, lifecycle transitions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from support.builders import T0, decision
from swen.domain.decision import DecisionStatus
from swen.domain.errors import ConflictError, InvalidInputError, NotFoundError
from swen.domain.events import EventType
from swen.store import audit
from swen.store.repository import Store

S = DecisionStatus


def test_save_and_get_round_trip(store: Store) -> None:
    move = decision()
    store.save_decision(move)
    stored = store.get_decision("d-1")
    assert stored.decision == move
    assert stored.status is S.PROPOSED
    assert stored.updated_at.tzinfo is not None


def test_save_is_idempotent(store: Store) -> None:
    move = decision()
    store.save_decision(move)
    store.save_decision(move)
    assert len(store.list_decisions()) == 1
    assert [e.type for e in store.decision_history("d-1")] == [EventType.DECISION]


def test_saving_other_content_under_same_id_conflicts(store: Store) -> None:
    store.save_decision(decision(confidence=0.9))
    with pytest.raises(ConflictError):
        store.save_decision(decision(confidence=0.5))
    assert store.get_decision("d-1").decision.confidence.value == 0.9


def test_missing_decision_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.get_decision("nope")
    with pytest.raises(NotFoundError):
        store.transition("nope", S.MR_OPENED)


def test_list_filters_and_pagination(store: Store) -> None:
    for i in range(12):
        service = "api" if i % 2 == 0 else "web"
        store.save_decision(decision(f"d-{i:02d}", service=service, created_at=T0 + timedelta(minutes=i)))
    store.transition("d-10", S.MR_OPENED)

    newest_first = [s.decision.id for s in store.list_decisions()]
    assert newest_first == [f"d-{i:02d}" for i in range(11, -1, -1)]
    assert [s.decision.id for s in store.list_decisions(service="web", limit=2)] == ["d-11", "d-09"]
    assert [s.decision.id for s in store.list_decisions(service="web", limit=2, offset=2)] == ["d-07", "d-05"]
    assert [s.decision.id for s in store.list_decisions(status=S.MR_OPENED)] == ["d-10"]
    since = [s.decision.id for s in store.list_decisions(since=T0 + timedelta(minutes=9))]
    assert since == ["d-11", "d-10", "d-09"]
    with pytest.raises(InvalidInputError):
        store.list_decisions(offset=-1)


def test_legal_transitions_write_status_and_events(store: Store) -> None:
    store.save_decision(decision())
    path = [S.MR_OPENED, S.PIPELINE_RUNNING, S.APPROVED, S.APPLIED, S.VERIFIED]
    for status in path:
        result = store.transition("d-1", status, detail={"by": "test"})
        assert result.status is status
    assert store.get_decision("d-1").status is S.VERIFIED
    history = store.decision_history("d-1")
    assert [e.type for e in history] == [EventType.DECISION] + [EventType.DECISION_STATUS] * len(path)
    assert [(e.payload["from"], e.payload["to"]) for e in history[1:]] == list(
        zip([S.PROPOSED, *path[:-1]], path, strict=True)
    )
    assert history[1].payload["detail"] == {"by": "test"}
    assert store.verify_audit().ok


def test_illegal_transition_changes_nothing(store: Store) -> None:
    store.save_decision(decision())
    before = store.get_decision("d-1")
    events_before = store.events_after(0)
    with pytest.raises(ConflictError, match="proposed to applied"):
        store.transition("d-1", S.APPLIED)
    assert store.get_decision("d-1") == before
    assert store.events_after(0) == events_before


def test_terminal_status_refuses_more(store: Store) -> None:
    store.save_decision(decision())
    store.transition("d-1", S.REJECTED)
    with pytest.raises(ConflictError, match="terminal"):
        store.transition("d-1", S.MR_OPENED)


def test_transition_is_all_or_nothing_when_the_event_cannot_be_written(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save_decision(decision())
    events_before = store.events_after(0)

    def broken_append(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("crash after the status update, before the event")

    monkeypatch.setattr(audit, "append", broken_append)
    with pytest.raises(RuntimeError):
        store.transition("d-1", S.MR_OPENED)
    monkeypatch.undo()
    assert store.get_decision("d-1").status is S.PROPOSED
    assert store.events_after(0) == events_before
    assert store.transition("d-1", S.MR_OPENED).status is S.MR_OPENED
    assert store.verify_audit().ok


def test_save_decision_is_all_or_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_append(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("crash after the decision row, before its event")

    monkeypatch.setattr(audit, "append", broken_append)
    with pytest.raises(RuntimeError):
        store.save_decision(decision())
    monkeypatch.undo()
    with pytest.raises(NotFoundError):
        store.get_decision("d-1")
    store.save_decision(decision())
    assert [e.type for e in store.decision_history("d-1")] == [EventType.DECISION]


def test_a_persons_choice_keeps_who_chose_it_and_engine_decisions_store_as_before(store: Store) -> None:
    """``chosen_by`` is stored only when set, so an engine decision saved before the field existed
    is still "the same decision" when saved again after an upgrade."""
    from sqlalchemy import select

    from swen.store.tables import decisions

    engine = decision("d-web-1", service="web")
    chosen = decision("op-web-2", service="web").model_copy(update={"chosen_by": "alice"})
    for d in (engine, chosen, engine):
        store.save_decision(d)
    assert store.get_decision("op-web-2").decision.chosen_by == "alice"
    assert store.get_decision("d-web-1").decision.chosen_by is None
    with store.engine.connect() as conn:
        payloads = dict(conn.execute(select(decisions.c.id, decisions.c.payload)).all())
    assert "chosen_by" not in payloads["d-web-1"] and payloads["op-web-2"]["chosen_by"] == "alice"


def test_a_cycles_recommendations_are_saved_in_batches_each_with_its_event(store: Store) -> None:
    """``save_decisions``: a thousand recommendations without a transaction each; every decision keeps
    its DECISION event on the hash chain, and a chunk holding a conflict stores none of it."""
    moves = [decision(f"d-{n}", service=f"svc-{n}") for n in range(5)]
    store.save_decisions(moves, per_transaction=2)
    assert [store.get_decision(m.id).decision for m in moves] == moves
    events = store.events_after(0, types=[EventType.DECISION])
    assert [e.decision_id for e in events] == [m.id for m in moves]
    assert store.verify_audit().ok
    store.save_decisions(moves[:2])  # saving the same again: nothing new
    assert len(store.events_after(0, types=[EventType.DECISION])) == 5
    changed = decision("d-1", service="svc-1", net_monthly=999.0)
    with pytest.raises(ConflictError):
        store.save_decisions([decision("d-new", service="svc-9"), changed], per_transaction=2)
    with pytest.raises(NotFoundError):
        store.get_decision("d-new")  # its chunk was refused whole
    assert store.verify_audit().ok


def test_a_fleet_at_first_sight_records_its_placements_in_batches(store: Store) -> None:
    from swen.domain.models import Placement
    from swen.store.records import PlacementWrite

    writes = [PlacementWrite(f"svc-{n}", Placement.parse("aws/us-east-1"), None, T0) for n in range(5)]
    store.record_placements(writes, per_transaction=2)
    assert {name: r.placement.key for name, r in store.placement_records().items()} == {
        f"svc-{n}": "aws/us-east-1" for n in range(5)
    }
    assert len(store.events_after(0, types=[EventType.PLACEMENT])) == 5
    assert store.verify_audit().ok
