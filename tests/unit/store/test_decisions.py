"""Decisions: save (idempotent), get, list filters and pages, lifecycle transitions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

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


def test_an_slo_repair_keeps_its_flag_and_other_decisions_store_as_before(store: Store) -> None:
    """``slo_repair`` is stored only when true: a decision saved before the field existed is still the
    same decision when saved again."""
    from swen.store.tables import decisions

    price = decision("d-web-1", service="web")
    repair = decision("d-web-2", service="web").model_copy(update={"slo_repair": True})
    for d in (price, repair, price, repair):
        store.save_decision(d)
    assert store.get_decision("d-web-2").decision.slo_repair is True
    assert store.get_decision("d-web-1").decision.slo_repair is False
    with store.engine.connect() as conn:
        payloads = dict(conn.execute(select(decisions.c.id, decisions.c.payload)).all())
    assert "slo_repair" not in payloads["d-web-1"] and payloads["d-web-2"]["slo_repair"] is True


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


@contextmanager
def _another_store(url: str, tmp_path: Path) -> Iterator[Store]:
    """A second, empty store on the same backend as ``url`` (a new SQLite file or PostgreSQL database)."""
    if url.startswith("sqlite"):
        other = Store.from_url(f"sqlite:///{tmp_path / 'other.db'}")
        try:
            yield other
        finally:
            other.close()
        return
    import psycopg

    base, name = url.rsplit("/", 1)
    twin = f"{name}_twin"
    admin = os.environ["SWEN_TEST_PG_URL"]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{twin}"')
    other = Store.from_url(f"{base}/{twin}")
    try:
        yield other
    finally:
        other.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{twin}" WITH (FORCE)')


def _written(store: Store) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], Any]:
    from swen.store.state import AuditHead
    from swen.store.tables import events, placements

    with store.reading("test") as conn:
        rows = [tuple(r) for r in conn.execute(select(placements).order_by(placements.c.service))]
        evs = [tuple(r) for r in conn.execute(select(events).order_by(events.c.id))]
    return rows, evs, store.load_state(AuditHead)


def test_batched_placements_write_the_rows_one_at_a_time_would(
    store: Store, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``record_placements`` writes a chunk in a few statements; its placements, events (ids, payloads,
    hashes: the whole chain) and recorded head equal those ``record_placement`` one at a time writes
    (each a chunk of one, in its own transaction), including a service seen before (its ``previous``),
    a service twice in one chunk, and writes spread over two chunks."""
    from swen.domain.models import Placement
    from swen.store.records import PlacementWrite

    monkeypatch.setattr(audit, "utcnow", lambda: T0 + timedelta(hours=1))  # the events' ts (and hash)
    aws, gcp = Placement.parse("aws/us-east-1"), Placement.parse("gcp/us-central1")
    before = [PlacementWrite("svc-1", gcp, None, T0)]
    writes = [PlacementWrite(f"svc-{n}", aws, None, T0 + timedelta(minutes=n)) for n in range(5)]
    writes += [PlacementWrite("svc-4", gcp, "d-7", T0 + timedelta(minutes=9))]  # twice in one chunk
    with _another_store(database_url, tmp_path) as one_at_a_time:
        for target in (store, one_at_a_time):
            target.save_decision(decision("d-7", service="svc-4"))
            for write in before:
                target.record_placement(write.service, write.placement, decision_id=None, at=write.at)
        store.record_placements(writes, per_transaction=4)
        for write in writes:
            one_at_a_time.record_placement(
                write.service, write.placement, decision_id=write.decision_id, at=write.at
            )
        batched, single = _written(store), _written(one_at_a_time)
        assert one_at_a_time.verify_audit().ok
    assert batched == single
    placed, events, _head = batched
    assert [e[4] for e in events if e[2] == EventType.PLACEMENT.value][-1] == "d-7"
    assert {row[0]: f"{row[1]}/{row[2]}" for row in placed}["svc-4"] == "gcp/us-central1"
    assert len(events) == 1 + len(before) + len(writes)
    assert store.verify_audit().ok


@pytest.mark.parametrize("bad", ["../etc", "naive"])
def test_a_placement_chunk_with_a_bad_write_is_refused_whole(store: Store, bad: str) -> None:
    """A bad service name or a naive time refuses its whole chunk (earlier chunks stay recorded)."""
    from swen.domain.models import Placement
    from swen.store.records import PlacementWrite

    aws = Placement.parse("aws/us-east-1")
    writes = [PlacementWrite(f"svc-{n}", aws, None, T0) for n in range(4)]
    writes[3] = (
        PlacementWrite(bad, aws, None, T0)
        if bad != "naive"
        else PlacementWrite("svc-3", aws, None, T0.replace(tzinfo=None))
    )
    with pytest.raises(InvalidInputError):
        store.record_placements(writes, per_transaction=2)
    assert sorted(store.get_placements()) == ["svc-0", "svc-1"]
    assert [e.service for e in store.events_after(0, types=[EventType.PLACEMENT])] == ["svc-0", "svc-1"]
    assert store.verify_audit().ok


def test_decisions_are_read_together_by_id_and_unknown_ids_are_absent(store: Store) -> None:
    for i in range(5):
        store.save_decision(decision(f"dec-{i}"))
    got = store.get_decisions({"dec-0", "dec-3", "dec-4", "dec-missing"}, per_query=2)
    assert sorted(got) == ["dec-0", "dec-3", "dec-4"]
    assert got["dec-3"] == store.get_decision("dec-3")
    assert store.get_decisions(set()) == {}
