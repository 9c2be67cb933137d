"""Alert intake: Alertmanager v4 payloads (captured from a real Alertmanager) into alerts and incidents."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from support.alertmanager import RECORDED, recorded
from support.builders import service
from swen.domain.errors import InvalidInputError
from swen.domain.events import EventType
from swen.domain.incidents import IncidentSource, IncidentStatus
from swen.observability.alerts import intake
from swen.store.incidents import IncidentRepository
from swen.store.repository import Store
from swen.store.tables import alerts, events, incidents, services

NOW = datetime(2026, 11, 26, 10, 21, 30, tzinfo=UTC)
OUTAGE_START = datetime(2026, 11, 26, 10, 20, 12, tzinfo=UTC)
RESOLVED_AT = datetime(2026, 11, 26, 10, 20, 55, tzinfo=UTC)


def with_fleet(store: Store) -> Store:
    """The services the captured alerts are about (alerts for services not in the fleet are ignored)."""
    store.upsert_services([service("checkout-api"), service("billing")])
    return store


@pytest.fixture
def store(swen_home: Path) -> Iterator[Store]:
    with Store.from_url(f"sqlite:///{swen_home / 'swen.db'}") as s:
        yield with_fleet(s)


def counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in (alerts, incidents, events)
        }


def event_actions(store: Store) -> list[tuple[str, str]]:
    return [(e.type, e.payload["action"]) for e in store.events_after(0)]


# --- firing, repeated, several alerts --------------------------------------------------------------


def test_firing_alert_opens_one_incident_and_records_the_alert(store: Store) -> None:
    result = intake(store, recorded("firing_outage.json"), now=NOW)
    assert (result.received, result.new_alerts, result.duplicates) == (1, 1, 0)
    (incident,) = IncidentRepository(store).list()
    assert result.incidents_opened == result.incidents == result.remediation_requested == [incident.id]
    assert (incident.service, incident.provider, incident.region) == ("checkout-api", "aws", "us-east-1")
    assert (incident.kind, incident.source, incident.status) == (
        "outage",
        "alertmanager",
        IncidentStatus.OPEN,
    )
    assert incident.opened_at == OUTAGE_START
    assert incident.details["alertnames"] == ["ProviderOutage"]
    (alert,) = IncidentRepository(store).alerts_of(incident.id)
    assert (alert.fingerprint, alert.starts_at, alert.status) == ("3e3c4825e01d829a", OUTAGE_START, "firing")
    assert event_actions(store) == [("incident", "opened"), ("alert", "firing")]
    assert store.verify_audit().ok


def test_the_same_notification_three_times_is_recorded_once(store: Store) -> None:
    intake(store, recorded("firing_outage.json"), now=NOW)
    before = counts(store)
    again = intake(store, recorded("repeated_outage.json"), now=NOW + timedelta(seconds=10))
    third = intake(store, recorded("firing_outage.json"), now=NOW + timedelta(seconds=20))
    assert counts(store) == before == {"alerts": 1, "incidents": 1, "events": 2}
    assert (again.new_alerts, again.duplicates, again.incidents_opened) == (0, 1, [])
    assert third.incidents == again.incidents and len(third.incidents) == 1
    # still open and unremediated, so the self-healing flow may be asked again (it dedupes by incident)
    assert third.remediation_requested == third.incidents


def test_second_alert_for_the_same_pair_joins_the_incident(store: Store) -> None:
    first = intake(store, recorded("firing_outage.json"), now=NOW)
    second = intake(store, recorded("firing_latency.json"), now=NOW)
    assert second.incidents_opened == [] and second.incidents == first.incidents
    (incident,) = IncidentRepository(store).list()
    assert incident.details["alertnames"] == ["ProviderOutage", "HighLatency"]
    assert len(IncidentRepository(store).alerts_of(incident.id)) == 2


def test_several_alerts_in_one_payload_share_one_incident(store: Store) -> None:
    payload = recorded("firing_outage.json")
    payload["alerts"].append(recorded("firing_latency.json")["alerts"][0])
    result = intake(store, payload, now=NOW)
    assert result.new_alerts == 2 and len(result.incidents_opened) == 1
    assert counts(store)["incidents"] == 1


def test_alert_without_provider_is_recorded_without_opening_an_incident(store: Store) -> None:
    result = intake(store, recorded("firing_selfhealing_failed.json"), now=NOW)
    assert result.new_alerts == 1 and result.incidents == [] and result.incidents_opened == []
    assert counts(store) == {"alerts": 1, "incidents": 0, "events": 1}


def test_alerts_for_a_service_not_in_the_fleet_are_ignored_and_counted(store: Store) -> None:
    payload = recorded("firing_outage.json")
    for alert in payload["alerts"]:
        alert["labels"]["service"] = "not-in-the-fleet"
    before = counts(store)
    result = intake(store, payload, now=NOW)
    assert (result.ignored, result.ignored_reasons) == (1, {"unknown_service": 1})
    assert result.to_dict()["ignored_reasons"] == {"unknown_service": 1}
    assert (result.new_alerts, result.incidents, result.incidents_opened, result.event_ids) == (0, [], [], [])
    assert counts(store) == before == {"alerts": 0, "incidents": 0, "events": 0}
    resolved = recorded("resolved_outage.json")
    for alert in resolved["alerts"]:
        alert["labels"]["service"] = "not-in-the-fleet"
    assert intake(store, resolved, now=NOW).ignored_reasons == {"unknown_service": 1}
    assert counts(store) == before


def test_a_recorded_alert_still_resolves_after_its_service_left_the_fleet(store: Store) -> None:
    intake(store, recorded("firing_outage.json"), now=NOW)
    with store.engine.begin() as conn:
        conn.execute(services.delete().where(services.c.name == "checkout-api"))
    result = intake(store, recorded("resolved_outage.json"), now=NOW + timedelta(minutes=1))
    assert result.ignored == 0 and result.resolved_alerts == 1 and len(result.incidents_closed) == 1


def test_alert_without_provider_joins_the_services_active_incident(store: Store) -> None:
    repo = IncidentRepository(store)
    incident, _ = repo.open_incident(
        service="billing", provider="alibaba", region="ap-southeast-1", kind="outage", source="engine", at=NOW
    )
    result = intake(store, recorded("firing_selfhealing_failed.json"), now=NOW)
    assert result.incidents == [incident.id] and result.incidents_opened == []
    assert result.remediation_requested == []  # SelfHealingFailed never asks for more self-healing


# --- resolution ------------------------------------------------------------------------------------


def test_incident_closes_when_all_its_alerts_resolve_without_remediation(store: Store) -> None:
    intake(store, recorded("firing_outage.json"), now=NOW)
    intake(store, recorded("firing_latency.json"), now=NOW)
    half = intake(store, recorded("resolved_outage.json"), now=NOW + timedelta(minutes=1))
    (incident,) = IncidentRepository(store).list()
    assert half.resolved_alerts == 1 and half.incidents_closed == []
    assert incident.status is IncidentStatus.OPEN and incident.details["alert_resolved_at"] is None

    done = intake(store, recorded("resolved_latency.json"), now=NOW + timedelta(minutes=1))
    incident = IncidentRepository(store).get(incident.id)
    assert done.incidents_closed == [incident.id]
    assert incident.status is IncidentStatus.RESOLVED and incident.resolved_at == RESOLVED_AT
    assert incident.time_to_recovery_s == pytest.approx((RESOLVED_AT - OUTAGE_START).total_seconds())
    assert incident.details["alert_resolved_at"] == RESOLVED_AT.isoformat()
    assert {a.status for a in IncidentRepository(store).alerts_of(incident.id)} == {"resolved"}
    assert event_actions(store)[-3:] == [
        ("alert", "resolved"),
        ("incident", "alerts_resolved"),
        ("incident", "resolved"),
    ]


def test_repeated_resolved_notification_changes_nothing(store: Store) -> None:
    intake(store, recorded("firing_outage.json"), now=NOW)
    intake(store, recorded("resolved_outage.json"), now=NOW)
    before = counts(store)
    again = intake(store, recorded("resolved_outage.json"), now=NOW + timedelta(seconds=30))
    late_firing = intake(
        store, recorded("repeated_outage.json"), now=NOW + timedelta(seconds=40)
    )  # retry after resolve
    assert counts(store) == before
    assert again.duplicates == 1 and late_firing.duplicates == 1 and late_firing.remediation_requested == []
    (incident,) = IncidentRepository(store).list()
    assert incident.status is IncidentStatus.RESOLVED


def test_remediating_incident_waits_for_verification(store: Store) -> None:
    repo = IncidentRepository(store)
    (incident_id,) = intake(store, recorded("firing_outage.json"), now=NOW).incidents
    repo.start_remediation(incident_id, "dec-emergency-1")
    result = intake(store, recorded("resolved_outage.json"), now=NOW)
    incident = repo.get(incident_id)
    assert result.incidents_closed == []
    assert incident.status is IncidentStatus.REMEDIATING
    assert incident.details["alert_resolved_at"] == RESOLVED_AT.isoformat()
    # the self-healing flow closes it after verifying recovery
    closed = repo.resolve(incident_id, NOW, reason="recovery verified")
    assert closed.status is IncidentStatus.RESOLVED
    assert closed.time_to_recovery_s == pytest.approx((NOW - OUTAGE_START).total_seconds())
    assert repo.resolve(incident_id, NOW + timedelta(hours=1)) == closed  # idempotent


def test_escalated_incident_stays_with_the_person(store: Store) -> None:
    repo = IncidentRepository(store)
    (incident_id,) = intake(store, recorded("firing_outage.json"), now=NOW).incidents
    repo.escalate(incident_id, "3 failed remediations")
    repeat = intake(store, recorded("repeated_outage.json"), now=NOW)
    assert repeat.remediation_requested == []
    intake(store, recorded("resolved_outage.json"), now=NOW)
    assert repo.get(incident_id).status is IncidentStatus.ESCALATED


def test_a_new_firing_after_resolution_opens_a_new_incident(store: Store) -> None:
    first = intake(store, recorded("firing_outage.json"), now=NOW).incidents
    intake(store, recorded("resolved_outage.json"), now=NOW)
    refire = recorded("firing_outage.json")
    refire["alerts"][0]["startsAt"] = "2026-11-26T10:40:00Z"
    second = intake(store, refire, now=NOW + timedelta(minutes=20))
    assert second.new_alerts == 1 and second.incidents_opened and second.incidents_opened != first
    assert counts(store)["incidents"] == 2 and counts(store)["alerts"] == 2


def test_resolved_alert_never_seen_firing_is_recorded_but_opens_nothing(store: Store) -> None:
    result = intake(store, recorded("resolved_outage.json"), now=NOW)
    assert result.resolved_alerts == 1 and result.incidents == []
    assert counts(store) == {"alerts": 1, "incidents": 0, "events": 1}


def test_alert_attaches_to_an_incident_the_engine_opened(store: Store) -> None:
    repo = IncidentRepository(store)
    engine_incident, created = repo.open_incident(
        service="checkout-api", provider="aws", region="us-east-1", kind="outage",
        source=IncidentSource.ENGINE, at=NOW,
    )  # fmt: skip
    assert created
    result = intake(store, recorded("firing_outage.json"), now=NOW)
    assert result.incidents == [engine_incident.id] and result.incidents_opened == []


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((RECORDED / "malformed").glob("*.json")), ids=lambda p: p.stem)
def test_malformed_payload_is_refused_and_nothing_is_written(store: Store, path: Path) -> None:
    before = counts(store)
    with pytest.raises(InvalidInputError) as err:
        intake(store, json.loads(path.read_text()), now=NOW)
    assert err.value.exit_code == 2 and err.value.message
    assert counts(store) == before


def test_one_bad_alert_rejects_the_whole_payload(store: Store) -> None:
    payload = recorded("firing_outage.json")
    bad = copy.deepcopy(recorded("firing_latency.json")["alerts"][0])
    bad["labels"]["region"] = "us east 1; rm -rf /"
    payload["alerts"].append(bad)
    with pytest.raises(InvalidInputError, match=r"region"):
        intake(store, payload, now=NOW)
    assert counts(store) == {"alerts": 0, "incidents": 0, "events": 0}


def test_version_error_names_the_version(store: Store) -> None:
    with pytest.raises(InvalidInputError, match=r"version '3'"):
        intake(store, recorded("malformed/version_3.json"), now=NOW)


# --- concurrency and backends ----------------------------------------------------------------------


def test_concurrent_deliveries_open_one_incident(database_url: str) -> None:
    with Store.from_url(database_url) as store:
        with_fleet(store)
        _deliver_concurrently(store)


def _deliver_concurrently(store: Store) -> None:
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            intake(store, recorded("firing_outage.json"), now=NOW)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert counts(store) == {"alerts": 1, "incidents": 1, "events": 2}


def test_idempotent_intake_on_every_backend(database_url: str) -> None:
    with Store.from_url(database_url) as store:
        with_fleet(store)
        for _ in range(3):
            intake(store, recorded("firing_outage.json"), now=NOW)
            intake(store, recorded("firing_latency.json"), now=NOW)
        assert counts(store) == {"alerts": 2, "incidents": 1, "events": 3}
        intake(store, recorded("resolved_outage.json"), now=NOW)
        intake(store, recorded("resolved_latency.json"), now=NOW)
        intake(store, recorded("resolved_latency.json"), now=NOW)
        (incident,) = IncidentRepository(store).list(status=IncidentStatus.RESOLVED)
        assert incident.resolved_at == RESOLVED_AT
        types = [e.type for e in store.events_after(0, types=[EventType.INCIDENT])]
        assert len(types) == 3  # opened, alerts_resolved, resolved
        assert store.verify_audit().ok


def test_event_ids_name_what_was_appended_and_a_repeat_appends_nothing(store: Store) -> None:
    first = intake(store, recorded("firing_outage.json"), now=NOW)
    assert first.event_ids == [e.id for e in store.events_after(0)] and len(first.event_ids) == 2
    assert first.stored == 1
    repeat = intake(store, recorded("repeated_outage.json"), now=NOW)
    assert repeat.event_ids == [] and repeat.stored == 0
    assert repeat.to_dict()["incidents"] == first.incidents


def test_payload_as_dumped_by_the_api_schema_is_accepted(store: Store) -> None:
    """Optional fields may arrive as null, extra fields are ignored; a resolve without endsAt ends now."""
    payload = recorded("firing_outage.json")
    payload["alerts"][0].update(generatorURL=None, extraField="x")
    payload["somethingNew"] = {"a": 1}
    (incident_id,) = intake(store, payload, now=NOW).incidents
    resolved = recorded("resolved_outage.json")
    resolved["alerts"][0]["endsAt"] = None
    intake(store, resolved, now=NOW)
    incident = IncidentRepository(store).get(incident_id)
    assert incident.status is IncidentStatus.RESOLVED and incident.resolved_at == NOW


# --- the incident's kind -------------------------------------------------------------------------------


def test_an_outage_alert_after_a_latency_alert_makes_the_incident_an_outage(store: Store) -> None:
    first = intake(store, recorded("firing_latency.json"), now=NOW)
    (opened,) = IncidentRepository(store).list()
    assert opened.kind == "latency"
    second = intake(store, recorded("firing_outage.json"), now=NOW)
    assert second.incidents == first.incidents and second.incidents_opened == []
    (incident,) = IncidentRepository(store).list()
    assert incident.kind == "outage"
    assert incident.details["alertnames"] == ["HighLatency", "ProviderOutage"]
    changed = [e.payload for e in store.events_after(0) if e.payload.get("action") == "kind_changed"]
    assert changed == [
        {"action": "kind_changed", "incident_id": incident.id, "from": "latency", "to": "outage",
         "because": "alert ProviderOutage"}
    ]  # fmt: skip
    assert store.verify_audit().ok


def test_a_latency_alert_after_an_outage_alert_leaves_it_an_outage(store: Store) -> None:
    intake(store, recorded("firing_outage.json"), now=NOW)
    intake(store, recorded("firing_latency.json"), now=NOW)
    (incident,) = IncidentRepository(store).list()
    assert incident.kind == "outage"
    assert ("incident", "kind_changed") not in event_actions(store)
