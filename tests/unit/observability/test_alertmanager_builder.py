"""The payload builder of the tests (support.alertmanager) gives exactly what the real Alertmanager sent.

Every recorded notification in tests/fixtures/alertmanager/ is rebuilt from its alert's facts (name,
labels, times, the annotation texts Prometheus rendered); the result must equal the recording, key
order included, so the builder cannot drift from the real shape (fingerprints, group key, common
labels, Go timestamps).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from support.alertmanager import RECORDED, alert, payload, recorded

OUTAGE = {
    "summary": "checkout-api: aws/us-east-1 availability collapsed",
    "description": "Availability of checkout-api on aws/us-east-1 is 12% (below 50 % for 1m). SWEN moves "
    "the service to the best healthy candidate.",
    "expr": "service_provider_region:swen_availability_ratio:current < 0.5",
    "starts_at": datetime(2026, 11, 26, 10, 20, 12, tzinfo=UTC),
}
LATENCY = {
    "kind": "latency",
    "summary": "checkout-api: p95 latency above its SLO on aws/us-east-1",
    "description": "p95 latency of checkout-api on aws/us-east-1 is 412 ms, above its SLO of 250 ms for 5m.",
    "starts_at": datetime(2026, 11, 26, 10, 20, 42, 123000, tzinfo=UTC),
}
RESOLVED_AT = datetime(2026, 11, 26, 10, 20, 55, tzinfo=UTC)

CASES: dict[str, dict[str, Any]] = {
    "firing_outage.json": payload([alert("ProviderOutage", service="checkout-api", **OUTAGE)]),
    "repeated_outage.json": payload([alert("ProviderOutage", service="checkout-api", **OUTAGE)]),
    "firing_latency.json": payload([alert("HighLatency", service="checkout-api", **LATENCY)]),
    "resolved_outage.json": payload(
        [alert("ProviderOutage", service="checkout-api", status="resolved", ends_at=RESOLVED_AT, **OUTAGE)]
    ),
    "resolved_latency.json": payload(
        [alert("HighLatency", service="checkout-api", status="resolved", ends_at=RESOLVED_AT, **LATENCY)]
    ),
    "firing_selfhealing_failed.json": payload(
        [
            alert(
                "SelfHealingFailed",
                service="billing",
                provider=None,
                region=None,
                kind="remediation",
                self_healing=False,
                starts_at=LATENCY["starts_at"],
                summary="billing: self-healing gave up, a person must act",
                description="Automatic remediation of billing was escalated after repeated failed or "
                "ineffective attempts. Automation will not retry on its own.",
            )
        ]
    ),
}


def test_every_recorded_notification_has_a_case() -> None:
    assert sorted(CASES) == sorted(p.name for p in RECORDED.glob("*.json"))


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_builder_reproduces_the_recorded_payload(name: str) -> None:
    built, real = CASES[name], recorded(name)
    assert built == real
    assert json.dumps(built, indent=2) == json.dumps(real, indent=2)  # the same keys in the same order


def test_a_payload_of_several_alerts_keeps_only_what_they_share() -> None:
    outage = alert("ProviderOutage", service="checkout-api", **OUTAGE)
    latency = alert("HighLatency", service="checkout-api", **LATENCY)
    both = payload([outage, latency])
    assert both["commonLabels"] == {
        k: v for k, v in outage["labels"].items() if k not in ("alertname", "kind")
    }
    assert both["commonAnnotations"] == {}
    assert both["groupLabels"]["alertname"] == "ProviderOutage" and both["status"] == "firing"
    assert payload([alert(status="resolved")])["status"] == "resolved"
