"""Alertmanager v4 webhook payloads, shaped like the ones recorded from a real Alertmanager 0.25.0 in
``tests/fixtures/alertmanager/`` (``tests/unit/observability/test_alertmanager_builder.py`` checks that
this builder reproduces them).

``payload([alert(...), ...])`` gives the JSON document Alertmanager POSTs to the platform's /alerts;
``recorded(name)`` loads one of the recorded documents.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from support.builders import T0

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "alertmanager"
NEVER = "0001-01-01T00:00:00Z"
"""Alertmanager's ``endsAt`` of an alert that has not resolved (Go's zero time)."""
GROUP_BY = ("alertname", "service", "provider", "region")
"""``route.group_by`` of deploy/alertmanager/alertmanager.yml."""
RECEIVER = "swen-platform"
EXTERNAL_URL = "http://127.0.0.1:19093"
PROMETHEUS_URL = "http://127.0.0.1:9090"
PROVIDER_ONLY: dict[str, Any] = {"region": None, "kind": None, "severity": None, "self_healing": False}
"""``alert(name, service=..., **PROVIDER_ONLY)``: an alert labelled with its name, service and provider
only (no region, kind or severity, not for self-healing), as a hand-written rule may send."""


def recorded(name: str) -> dict[str, Any]:
    """A recorded payload: ``recorded("firing_outage.json")``, ``recorded("malformed/version_3.json")``."""
    data: dict[str, Any] = json.loads((RECORDED / name).read_text())
    return data


def timestamp(at: datetime | str) -> str:
    """A time as Alertmanager writes it (Go's RFC 3339 with nanoseconds: no trailing zeros, ``Z``)."""
    if isinstance(at, str):
        return at
    utc = at.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def label_fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of a label set (FNV-1a 64 over the sorted names and values)."""
    offset, prime, mask = 14695981039346656037, 1099511628211, 0xFFFFFFFFFFFFFFFF
    digest = offset
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode() + b"\xff":
                digest = ((digest ^ byte) * prime) & mask
    return f"{digest:016x}"


def alert(
    alertname: str = "ProviderOutage",
    *,
    service: str | None = "service-1",
    provider: str | None = "aws",
    region: str | None = "us-east-1",
    kind: str | None = "outage",
    severity: str | None = "critical",
    self_healing: bool = True,
    status: str = "firing",
    starts_at: datetime | str = T0,
    ends_at: datetime | str | None = None,
    summary: str | None = None,
    description: str | None = None,
    expr: str | None = None,
    fingerprint: str | None = None,
    **labels: str,
) -> dict[str, Any]:
    """One alert of a payload. A label given as None is left out; ``self_healing`` adds
    ``self_healing="true"``; ``labels`` adds (or replaces) labels. The fingerprint is Alertmanager's
    own of the label set unless given; ``endsAt`` is Go's zero time while firing;
    the generator URL is Prometheus's graph link of ``expr`` (default: the alert name)."""
    named = {"alertname": alertname, "kind": kind, "provider": provider, "region": region, "service": service,
             "severity": severity, "self_healing": "true" if self_healing else None}  # fmt: skip
    label_set = {k: v for k, v in (named | labels).items() if v is not None}
    label_set = dict(sorted(label_set.items()))
    where = f"{provider}/{region}" if provider and region else "the platform"
    annotations = {
        "description": description or f"{alertname} for {service} on {where}.",
        "runbook_url": f"docs/OPERATIONS.md#{alertname.lower()}",
        "summary": summary or f"{service}: {alertname} on {where}",
    }
    if ends_at is None:
        ends_at = NEVER if status == "firing" else starts_at
    return {
        "status": status,
        "labels": label_set,
        "annotations": annotations,
        "startsAt": timestamp(starts_at),
        "endsAt": timestamp(ends_at),
        "generatorURL": f"{PROMETHEUS_URL}/graph?g0.expr={quote_plus(expr or alertname)}&g0.tab=1",
        "fingerprint": fingerprint or label_fingerprint(label_set),
    }


def _common(dicts: list[dict[str, str]]) -> dict[str, str]:
    first, *rest = dicts
    return {k: v for k, v in first.items() if all(d.get(k) == v for d in rest)}


def payload(
    alerts: list[dict[str, Any]],
    *,
    status: str | None = None,
    receiver: str = RECEIVER,
    external_url: str = EXTERNAL_URL,
) -> dict[str, Any]:
    """The webhook document for one notification of one alert group: ``status`` is "firing" while
    any of ``alerts`` fires; the group labels are the ``group_by`` labels of the first alert; common
    labels and annotations are those all alerts share; the group key is the route's and the group's."""
    if not alerts:
        raise ValueError("Alertmanager never sends a notification without alerts")
    labels = alerts[0]["labels"]
    group = {k: labels[k] for k in sorted(GROUP_BY) if k in labels}
    key = ", ".join(f'{k}="{v}"' for k, v in group.items())
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "receiver": receiver,
        "status": status or ("firing" if firing else "resolved"),
        "alerts": alerts,
        "groupLabels": group,
        "commonLabels": _common([a["labels"] for a in alerts]),
        "commonAnnotations": _common([a["annotations"] for a in alerts]),
        "externalURL": external_url,
        "version": "4",
        "groupKey": f"{{}}:{{{key}}}",
        "truncatedAlerts": 0,
    }
