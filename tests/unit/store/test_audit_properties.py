"""Property: any JSON object payload comes back exactly as appended, and the chain verifies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swen.domain.errors import InvalidInputError
from swen.domain.events import EventType
from swen.store.audit import canonical_payload
from swen.store.repository import Store

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(max_size=8), json_values, max_size=5)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads)
def test_payload_round_trips_and_chain_verifies(store: Store, payload: dict[str, Any]) -> None:
    try:
        canonical_payload(payload)
    except InvalidInputError:  # strings with lone surrogates cannot be stored as UTF-8
        with pytest.raises(InvalidInputError):
            store.append_event(EventType.SCENARIO, payload)
        return
    record = store.append_event(EventType.SCENARIO, payload, service="api")
    stored = store.events_after(record.id - 1, limit=1)[0]
    assert stored == record
    assert json.dumps(stored.payload, sort_keys=True) == json.dumps(payload, sort_keys=True)
    assert store.verify_audit().ok


def test_lone_surrogate_is_rejected_before_writing(store: Store) -> None:
    with pytest.raises(InvalidInputError):
        store.append_event(EventType.SCENARIO, {"text": "bad \udc80"})
    assert store.events_after(0) == []
