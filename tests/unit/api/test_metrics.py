"""Prometheus metrics: every declared name is exposed, values come from the store at scrape time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from support.builders import T0, decision, placement, service, telemetry_sample
from support.http import bearer
from swen.domain.decision import DecisionStatus
from swen.domain.keys import Role
from swen.observability import metrics as m
from swen.store.repository import Store
from swen.store.tables import incidents, merge_requests, pipeline_runs, pipeline_stages

AWS, ALI = placement("aws/us-east-1"), placement("alibaba/cn-hangzhou")


def _scrape(client: TestClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def _value(scraped: dict, name: str, **labels: str) -> float:
    matches = [v for lab, v in scraped[name] if all(lab.get(k) == val for k, val in labels.items())]
    assert len(matches) == 1, (name, labels, scraped.get(name))
    return matches[0]


def _seed_pipeline(store: Store) -> None:
    now = datetime.now(UTC)
    with store.engine.begin() as conn:
        mr = conn.execute(
            insert(merge_requests)
            .values(
                decision_id="d-web-0",
                service="web",
                branch="swen/web-1",
                host="local",
                state="opened",
                title="t",
                description="d",
                kind="migration",
                created_at=now,
                updated_at=now,
            )
            .returning(merge_requests.c.id)
        ).scalar_one()
        run = conn.execute(
            insert(pipeline_runs)
            .values(mr_id=mr, status="success", started_at=now)
            .returning(pipeline_runs.c.id)
        ).scalar_one()
        for name, duration in (("validate", 0.2), ("plan", 3.0), ("apply", None)):
            conn.execute(
                insert(pipeline_stages).values(
                    run_id=run, name=name, status="success", started_at=now, duration_s=duration, log=""
                )
            )
        conn.execute(
            insert(incidents).values(
                service="web",
                provider="aws",
                kind="outage",
                source="engine",
                status="open",
                opened_at=now,
                details={},
            )
        )
        conn.execute(
            insert(incidents).values(
                service="db",
                provider="aws",
                kind="outage",
                source="engine",
                status="escalated",
                opened_at=now,
                details={},
            )
        )


def test_metrics_expose_every_declared_name(client: TestClient, store: Store) -> None:
    store.upsert_services([service("web", replicas=2, monthly_budget_usd=5000.0), service("db")])
    store.insert_samples(
        [telemetry_sample("web", AWS, hourly=2.0), telemetry_sample("web", ALI, hourly=1.0, latency=80.0)]
    )
    store.record_placement("web", ALI, decision_id=None, at=T0)
    for n, conf in enumerate((0.15, 0.75, 0.95)):
        store.save_decision(
            decision(
                f"d-web-{n}",
                service="web",
                created_at=T0 + timedelta(minutes=n),
                net_monthly=100.0,
                confidence=conf,
            )
        )
    for status in (
        DecisionStatus.MR_OPENED,
        DecisionStatus.PIPELINE_RUNNING,
        DecisionStatus.APPROVED,
        DecisionStatus.APPLIED,
        DecisionStatus.VERIFIED,
    ):
        store.transition("d-web-2", status)
    store.set_flag(m.ENGINE_HEARTBEAT_FLAG, 1_700_000_000.5)
    _seed_pipeline(store)
    client.get("/healthz")
    scraped = _scrape(client)

    exposed = {name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum") for name in scraped}
    assert exposed >= m.METRIC_NAMES, m.METRIC_NAMES - exposed
    # 2.0/h x 730 x 2 replicas: the whole service's monthly cost, comparable with its budget
    assert _value(scraped, m.COST_MONTHLY, service="web", provider="aws") == pytest.approx(2920.0)
    assert _value(scraped, m.LATENCY_P95, service="web", provider="alibaba") == 80.0
    assert _value(scraped, m.PLACEMENT_INFO, service="web") == 1.0
    assert _value(scraped, m.PLACEMENT_INFO, service="web", provider="alibaba") == 1.0
    assert _value(scraped, m.COST_MONTHLY, service="web", provider="alibaba") == pytest.approx(1460.0)
    assert _value(scraped, m.PLACEMENT_INFO, service="db", provider="aws") == 1.0  # the fleet file's
    assert _value(scraped, m.SERVICE_BUDGET, service="web") == 5000.0
    assert [lab for lab, _ in scraped[m.SERVICE_BUDGET]] == [{"service": "web"}]
    assert _value(scraped, m.DECISIONS_TOTAL, outcome="verified") == 1.0
    assert _value(scraped, m.DECISIONS_TOTAL, outcome="mr_opened") == 1.0
    assert _value(scraped, m.DECISIONS_TOTAL, outcome="proposed") == 3.0  # every decision entered it
    assert _value(scraped, m.DECISIONS_TOTAL, outcome="rejected") == 0.0
    assert _value(scraped, m.DECISION_CONFIDENCE + "_bucket", le="0.2") == 1.0
    assert _value(scraped, m.DECISION_CONFIDENCE + "_bucket", le="0.8") == 2.0
    assert _value(scraped, m.DECISION_CONFIDENCE + "_count") == 3.0
    assert _value(scraped, m.SAVINGS_REALISED) == 100.0
    assert _value(scraped, m.PIPELINE_STAGE_DURATION + "_count", stage="plan") == 1.0
    assert _value(scraped, m.PIPELINE_STAGE_DURATION + "_bucket", stage="validate", le="0.25") == 1.0
    assert "apply" not in {lab.get("stage") for lab, _ in scraped[m.PIPELINE_STAGE_DURATION + "_count"]}
    assert _value(scraped, m.OPEN_INCIDENTS, service="web") == 1.0
    assert _value(scraped, m.OPEN_INCIDENTS, service="db") == 0.0
    assert _value(scraped, m.REMEDIATION_ESCALATED, service="db") == 1.0
    assert _value(scraped, m.REMEDIATION_ESCALATED, service="web") == 0.0
    assert _value(scraped, m.ENGINE_HEARTBEAT) == 1_700_000_000.5
    http_count = m.HTTP_REQUEST_DURATION + "_count"
    assert _value(scraped, http_count, route="/healthz", method="GET", status="200") == 1


def test_request_durations_use_the_route_template(
    client: TestClient, store: Store, keys: dict[Role, str]
) -> None:
    client.get("/decisions/d-1", headers=bearer(keys[Role.VIEWER]))
    client.get("/decisions/d-2", headers=bearer(keys[Role.VIEWER]))
    client.get("/no/such/path")
    scraped = _scrape(client)
    name = m.HTTP_REQUEST_DURATION + "_count"
    assert _value(scraped, name, route="/decisions/{decision_id}", status="404") == 2
    assert _value(scraped, name, route="<unmatched>", status="404") == 1
    assert not any("d-1" in str(lab) for lab, _ in scraped[name])


def test_two_registries_on_one_store_agree(store: Store) -> None:
    store.upsert_services([service("web")])
    store.insert_samples([telemetry_sample("web", AWS, hourly=3.0)])
    texts = []
    for _ in range(2):
        registry = CollectorRegistry()
        m.build_registry(store, registry=registry)
        labels = {"service": "web", "provider": "aws", "region": "us-east-1"}
        texts.append(registry.get_sample_value(m.COST_MONTHLY, labels))
    assert texts == [pytest.approx(2190.0)] * 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, None),
        ("garbage", None),
        (1.5, 1.5),
        ("1970-01-01T00:00:02+00:00", 2.0),
        ({"ts": 3}, 3.0),
        ("1970-01-01T00:00:04", 4.0),
    ],
)
def test_heartbeat_values(value: object, expected: float | None) -> None:
    parsed = m.parse_heartbeat(value)
    assert (parsed.timestamp() if parsed else None) == expected


def test_heartbeat_is_zero_before_the_engine_ran(client: TestClient) -> None:
    assert _value(_scrape(client), m.ENGINE_HEARTBEAT) == 0.0


def test_decisions_total_never_decreases(client: TestClient, store: Store) -> None:
    store.save_decision(decision("d-web-1", service="web", created_at=T0 + timedelta(minutes=1)))
    for status in (
        DecisionStatus.MR_OPENED,
        DecisionStatus.PIPELINE_RUNNING,
        DecisionStatus.APPROVED,
        DecisionStatus.APPLIED,
        DecisionStatus.VERIFIED,
    ):
        store.transition("d-web-1", status)
    before = _scrape(client)
    store.transition("d-web-1", DecisionStatus.ROLLED_BACK, detail={"to": "x", "status": "verified"})
    after = _scrape(client)
    for status in DecisionStatus:
        assert _value(after, m.DECISIONS_TOTAL, outcome=status.value) >= _value(
            before, m.DECISIONS_TOTAL, outcome=status.value
        )
    assert _value(after, m.DECISIONS_TOTAL, outcome="verified") == 1.0
    assert _value(after, m.DECISIONS_TOTAL, outcome="rolled_back") == 1.0
