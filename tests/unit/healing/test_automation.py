"""The automation switch kept as typed state: legacy values, a damaged value, who/when/why."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from swen.domain.errors import StateError
from swen.domain.events import EventType
from swen.moves import automation
from swen.store.repository import Store
from swen.store.state import AutomationSwitch

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.from_url(f"sqlite:///{tmp_path / 'a.db'}")


def test_pausing_records_who_when_and_why(store: Store) -> None:
    assert automation.state(store) == AutomationSwitch(paused=False)
    automation.set_paused(store, True, by="oncall", reason="change freeze", at=T0)
    expected = AutomationSwitch(paused=True, by="oncall", at=T0, reason="change freeze")
    assert automation.state(store) == expected
    [event] = store.events_after(0, types=[EventType.AUTOMATION])
    assert event.payload == {
        "action": "paused", "was_paused": False, "paused": True, "by": "oncall",
        "at": T0.isoformat(), "reason": "change freeze",
    }  # fmt: skip


def test_a_bare_true_from_older_versions_means_paused(store: Store) -> None:
    store.set_flag(automation.PAUSED_FLAG, True)
    assert automation.is_paused(store)


def test_a_damaged_switch_stops_automation_until_it_is_set_again(store: Store) -> None:
    store.set_flag(automation.PAUSED_FLAG, {"paused": "perhaps"})
    with pytest.raises(StateError, match="automation_paused"):
        automation.state(store)
    assert automation.is_paused(store)
    automation.set_paused(store, False, by="oncall", reason="switch repaired")
    assert not automation.is_paused(store)
    [event] = store.events_after(0, types=[EventType.AUTOMATION])
    assert event.payload["was_paused"] is None
