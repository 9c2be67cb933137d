"""The engine's anomalies into incidents: current placement only, idempotent, closed when cleared."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from support.alertmanager import recorded
from support.builders import service, telemetry_sample
from swen.domain.incidents import IncidentStatus
from swen.domain.models import Placement, TelemetrySample
from swen.engine.anomaly import Anomaly, AnomalyDetector, AnomalyKind
from swen.observability.alerts import intake, intake_anomalies
from swen.store.incidents import IncidentRepository
from swen.store.repository import Store
from swen.store.tables import events, incidents

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def anomaly(kind: AnomalyKind, *, state: str = "firing", provider: str = "aws", minute: int = 1) -> Anomaly:
    return Anomaly(
        service="checkout-api",
        provider=provider,
        region="us-east-1" if provider == "aws" else "us-central1",
        kind=kind,
        value=0.1,
        baseline=0.999,
        band=0.01,
        first_seen=T0,
        consecutive=1,
        last_seen=T0 + timedelta(minutes=minute),
        state=state,
        new=state == "firing",
    )


@pytest.fixture
def store(swen_home: Path) -> Iterator[Store]:
    with Store.from_url(f"sqlite:///{swen_home / 'swen.db'}") as s:
        s.upsert_services([service("checkout-api")])
        yield s


def rows(store: Store) -> tuple[int, int]:
    with store.engine.connect() as conn:
        return (
            int(conn.execute(select(func.count()).select_from(incidents)).scalar_one()),
            int(conn.execute(select(func.count()).select_from(events)).scalar_one()),
        )


def test_firing_anomaly_opens_an_engine_incident_once(store: Store) -> None:
    first = intake_anomalies(store, [anomaly(AnomalyKind.OUTAGE)])
    (incident,) = IncidentRepository(store).list()
    assert first.incidents_opened == first.remediation_requested == [incident.id]
    assert (incident.source, incident.kind, incident.opened_at) == ("engine", "outage", T0)
    assert incident.details["anomaly"]["baseline"] == pytest.approx(0.999)
    before = rows(store)
    again = intake_anomalies(store, [anomaly(AnomalyKind.OUTAGE, minute=2)])  # level-triggered repeat
    assert rows(store) == before and again.event_ids == [] and again.duplicates == 1
    assert again.remediation_requested == [incident.id]


def test_anomalies_off_the_current_placement_are_ignored(store: Store) -> None:
    result = intake_anomalies(store, [anomaly(AnomalyKind.OUTAGE, provider="gcp")])
    assert result.ignored == 1 and result.incidents == []
    assert rows(store) == (0, 0)


def test_the_applied_placement_wins_over_the_fleet_file(store: Store) -> None:
    store.record_placement(
        "checkout-api", Placement(provider="gcp", region="us-central1"), decision_id=None, at=T0
    )
    assert intake_anomalies(store, [anomaly(AnomalyKind.OUTAGE)]).ignored == 1
    assert intake_anomalies(store, [anomaly(AnomalyKind.OUTAGE, provider="gcp")]).incidents_opened


def test_incident_closes_when_every_anomaly_cleared(store: Store) -> None:
    intake_anomalies(store, [anomaly(AnomalyKind.OUTAGE), anomaly(AnomalyKind.LATENCY_SPIKE)])
    (incident,) = IncidentRepository(store).list()
    assert incident.details["anomalies"] == {"outage": "firing", "latency_spike": "firing"}
    half = intake_anomalies(store, [anomaly(AnomalyKind.LATENCY_SPIKE, state="resolved", minute=4)])
    assert half.incidents_closed == []
    done = intake_anomalies(store, [anomaly(AnomalyKind.OUTAGE, state="resolved", minute=6)])
    incident = IncidentRepository(store).get(incident.id)
    assert done.incidents_closed == [incident.id] and incident.status is IncidentStatus.RESOLVED
    assert incident.time_to_recovery_s == pytest.approx(360.0)
    assert intake_anomalies(store, [anomaly(AnomalyKind.OUTAGE, state="resolved", minute=7)]).event_ids == []


def test_remediating_incident_is_left_to_the_self_healing_flow(store: Store) -> None:
    (incident_id,) = intake_anomalies(store, [anomaly(AnomalyKind.OUTAGE)]).incidents
    IncidentRepository(store).start_remediation(incident_id, "dec-1")
    cleared = intake_anomalies(store, [anomaly(AnomalyKind.OUTAGE, state="resolved")])
    assert cleared.incidents_closed == [] and cleared.remediation_requested == []
    assert IncidentRepository(store).get(incident_id).status is IncidentStatus.REMEDIATING


def test_engine_and_alertmanager_share_one_incident_and_both_must_clear(store: Store) -> None:
    now = datetime(2026, 11, 26, 10, 21, 30, tzinfo=UTC)
    opened = intake_anomalies(store, [anomaly(AnomalyKind.OUTAGE)])
    alert = intake(store, recorded("firing_outage.json"), now=now)
    assert alert.incidents == opened.incidents and alert.incidents_opened == []
    # the anomaly clears, Alertmanager still fires: open
    assert intake_anomalies(store, [anomaly(AnomalyKind.OUTAGE, state="resolved")]).incidents_closed == []
    # then the alert resolves: closed
    assert intake(store, recorded("resolved_outage.json"), now=now).incidents_closed == opened.incidents


def test_alert_resolution_waits_for_a_firing_anomaly(store: Store) -> None:
    now = datetime(2026, 11, 26, 10, 21, 30, tzinfo=UTC)
    intake(store, recorded("firing_outage.json"), now=now)
    intake_anomalies(store, [anomaly(AnomalyKind.OUTAGE)])
    assert intake(store, recorded("resolved_outage.json"), now=now).incidents_closed == []
    (incident,) = IncidentRepository(store).list()
    assert incident.status is IncidentStatus.OPEN


def test_detector_to_incident_on_a_collapse(store: Store) -> None:
    detector = AnomalyDetector()

    def sample(i: int, provider: str, region: str, availability: float) -> TelemetrySample:
        at = T0 + timedelta(seconds=5 * i)
        where = f"{provider}/{region}"
        return telemetry_sample(
            "checkout-api", where, ts=at, hourly=0.1, latency=20.0, availability=availability
        )

    for i in range(20):
        down = 0.1 if i >= 15 else 0.999
        found = detector.observe(
            [sample(i, "aws", "us-east-1", down), sample(i, "gcp", "us-central1", down)]  # both collapse
        )
        intake_anomalies(store, found)
    (incident,) = IncidentRepository(store).list()  # only where the service runs
    assert (incident.provider, incident.kind, incident.opened_at) == (
        "aws",
        "outage",
        T0 + timedelta(seconds=75),
    )


def test_an_outage_anomaly_makes_a_latency_incident_an_outage(store: Store) -> None:
    """A provider going down raises latency too; the latency spike (checked first) opens the incident."""
    result = intake_anomalies(store, [anomaly(AnomalyKind.LATENCY_SPIKE), anomaly(AnomalyKind.OUTAGE)])
    (incident,) = IncidentRepository(store).list()
    assert result.incidents_opened == [incident.id]
    assert incident.kind == "outage"
    assert incident.details["anomalies"] == {"latency_spike": "firing", "outage": "firing"}


def test_a_latency_anomaly_alone_stays_a_latency_incident(store: Store) -> None:
    intake_anomalies(store, [anomaly(AnomalyKind.LATENCY_SPIKE)])
    (incident,) = IncidentRepository(store).list()
    assert incident.kind == "latency"
