"""Typed state (store/state.py) on SQLite and PostgreSQL: round trips, the stored JSON, validation of
bad stored values, and the cleanup of per-decision state when a decision reaches a terminal status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from support.builders import decision
from swen.domain.decision import DecisionStatus
from swen.domain.errors import InvalidInputError, StateError, StoreError
from swen.domain.events import EventType
from swen.store.repository import Store
from swen.store.state import (
    STATE_MODELS,
    AnomalyDetectorSnapshot,
    AuditHead,
    AutomationSwitch,
    EngineHeartbeat,
    QuarantinedPlacement,
    QuarantineList,
    ScenarioCursor,
    StateModel,
    StoredVerification,
)

_S = DecisionStatus
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
TO_APPLIED = (_S.MR_OPENED, _S.PIPELINE_RUNNING, _S.APPROVED, _S.APPLIED)

VALUES: list[StateModel] = [
    AutomationSwitch(paused=True, by="oncall", at=T0, reason="change freeze"),
    EngineHeartbeat(ts=T0, sim_time=T0 + timedelta(hours=3)),
    AnomalyDetectorSnapshot(
        version=1,
        config={"alpha": 0.1},
        keys=[("web", "aws", "us-east-1")],
        arrays={"level": [[1.5, None, 2.0]], "n": [[3, 0, 1]], "active": [[True, False, False]]},
    ),
    QuarantineList(
        entries=[QuarantinedPlacement(service="*", placement="aws/us-east-1", until=T0, incident_id=7)]
    ),
    ScenarioCursor(event_id=42),
]


def advance(store: Store, decision_id: str, *statuses: DecisionStatus) -> None:
    for status in statuses:
        store.transition(decision_id, status)


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_a_saved_state_loads_back_equal(store: Store, value: StateModel) -> None:
    model = type(value)
    assert store.load_state(model) is None
    store.save_state(value)
    assert store.load_state(model) == value


def test_per_decision_state_is_kept_per_decision(store: Store) -> None:
    first = StoredVerification(healthy_streak=2, last_ts=T0, last_problem=None)
    store.save_state(first, decision_id="d-1")
    assert store.load_state(StoredVerification, decision_id="d-1") == first
    assert store.load_state(StoredVerification, decision_id="d-2") is None
    with pytest.raises(InvalidInputError, match="per decision"):
        store.load_state(StoredVerification)
    with pytest.raises(InvalidInputError, match="not kept per decision"):
        store.save_state(ScenarioCursor(event_id=1), decision_id="d-1")


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (ScenarioCursor(event_id=7), 7),
        (
            AutomationSwitch(paused=False, by="ops", at=T0, reason=""),
            {"paused": False, "by": "ops", "at": "2026-01-01T00:00:00+00:00", "reason": ""},
        ),
        (
            QuarantineList(entries=[QuarantinedPlacement(service="web", placement="aws/eu-west-1",
                                                         until=T0)]),
            [{"service": "web", "placement": "aws/eu-west-1", "until": T0.isoformat(), "reason": "",
              "incident_id": None}],
        ),
        (EngineHeartbeat(ts=T0), {"ts": T0.isoformat(), "sim_time": None}),
    ],
    ids=["cursor", "automation", "quarantine", "heartbeat"],
)  # fmt: skip
def test_the_stored_json_is_what_the_hand_written_flags_held(
    store: Store, value: StateModel, stored: Any
) -> None:
    store.save_state(value)
    assert store.get_flag(value.key) == stored


@pytest.mark.parametrize(
    ("model", "raw", "expected"),
    [
        (AutomationSwitch, True, AutomationSwitch(paused=True)),
        (EngineHeartbeat, 1.5, EngineHeartbeat(ts=EPOCH + timedelta(seconds=1.5))),
        (EngineHeartbeat, "1970-01-01T00:00:04", EngineHeartbeat(ts=EPOCH + timedelta(seconds=4))),
        (EngineHeartbeat, {"at": "2026-01-01T00:00:00+00:00"}, EngineHeartbeat(ts=T0)),
        (StoredVerification, {"last_ts": T0.isoformat()}, StoredVerification(last_ts=T0)),
    ],
    ids=["bare-bool", "epoch", "naive-iso", "at-key", "partial"],
)  # fmt: skip
def test_older_stored_forms_still_read(
    store: Store, model: type[StateModel], raw: Any, expected: Any
) -> None:
    decision_id = "d-1" if model.per_decision else None
    key = f"{model.key}:d-1" if model.per_decision else model.key
    store.set_flag(key, raw)
    assert store.load_state(model, decision_id=decision_id) == expected


@pytest.mark.parametrize(
    ("model", "raw", "problem"),
    [
        (ScenarioCursor, -3, "greater than or equal to 0"),
        (ScenarioCursor, "ten", "valid integer"),
        (AutomationSwitch, {"paused": "maybe"}, "paused"),
        (EngineHeartbeat, True, "valid dictionary"),
        (EngineHeartbeat, {"sim_time": None}, "ts"),
        (QuarantineList, [{"service": "web"}], "placement"),
        (QuarantineList, {"not": "a list"}, "valid list"),
    ],
)
def test_a_bad_stored_value_is_a_state_error_naming_the_key(
    store: Store, model: type[StateModel], raw: Any, problem: str
) -> None:
    store.set_flag(model.key, raw)
    with pytest.raises(StateError) as caught:
        store.load_state(model)
    assert isinstance(caught.value, StoreError)
    assert repr(model.key) in caught.value.message and model.__name__ in caught.value.message
    assert problem in caught.value.message
    assert caught.value.hint


def test_the_audit_head_is_written_only_by_the_store(store: Store) -> None:
    with pytest.raises(InvalidInputError, match="written by the store"):
        store.save_state(AuditHead(id=1, hash="0" * 64))
    record = store.append_event(EventType.AUTOMATION, {"n": 1})
    assert store.load_state(AuditHead) == AuditHead(id=record.id, hash=record.hash)


def test_every_model_has_its_own_key() -> None:
    keys = [model.key for model in STATE_MODELS]
    assert len(keys) == len(set(keys)) and all(0 < len(k) <= 60 for k in keys)


def test_a_terminal_transition_drops_the_decisions_state_and_nothing_else(store: Store) -> None:
    for decision_id in ("d-1", "d-2"):
        store.save_decision(decision(decision_id))
        store.save_state(StoredVerification(unhealthy_streak=1), decision_id=decision_id)
    store.save_state(ScenarioCursor(event_id=3))
    advance(store, "d-1", *TO_APPLIED)
    assert store.load_state(StoredVerification, decision_id="d-1") is not None  # applied: not terminal
    advance(store, "d-1", _S.FAILED)
    assert store.load_state(StoredVerification, decision_id="d-1") is None
    assert store.load_state(StoredVerification, decision_id="d-2") == StoredVerification(unhealthy_streak=1)
    assert store.load_state(ScenarioCursor) == ScenarioCursor(event_id=3)


def test_verification_state_outlives_verified_until_the_rollback(store: Store) -> None:
    store.save_decision(decision("d-1"))
    store.save_state(StoredVerification(healthy_streak=3, last_ts=T0), decision_id="d-1")
    advance(store, "d-1", *TO_APPLIED, _S.VERIFIED)
    # the healer reads the verification time after VERIFIED (the incidents' time to recovery)
    assert store.load_state(StoredVerification, decision_id="d-1") == StoredVerification(
        healthy_streak=3, last_ts=T0
    )
    advance(store, "d-1", _S.ROLLED_BACK)
    assert store.load_state(StoredVerification, decision_id="d-1") is None


def test_drop_decision_state_deletes_it_at_once(store: Store) -> None:
    store.save_state(StoredVerification(), decision_id="d-9")
    store.drop_decision_state("d-9")
    assert store.load_state(StoredVerification, decision_id="d-9") is None
    assert store.get_flag("verify:d-9") is None
