"""GET /catalog/versions and /catalog/versions/{id}; a decision names its catalog version."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from support.builders import decision, service
from support.http import bearer
from swen.domain.keys import Role
from swen.store.repository import Store
from swen.telemetry.price_versions import ensure_recorded, packaged_prices, refresh


def _aws_file() -> bytes:
    rows = [r for r in csv.DictReader(io.StringIO(packaged_prices())) if r["provider"] == "aws"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        if (row["region"], row["instance_type"]) == ("us-west-2", "c5.2xlarge"):
            row["price_hour_usd"] = "0.2"
        writer.writerow(row)
    return out.getvalue().encode()


def test_versions_newest_first_with_the_active_one(
    client: TestClient, store: Store, keys: dict[Role, str]
) -> None:
    viewer = bearer(keys[Role.VIEWER])
    assert client.get("/catalog/versions", headers=viewer).json() == {"active": None, "versions": []}
    store.upsert_services([service("web")])
    ensure_recorded(store)
    refresh(store, _aws_file(), "https://example.test/aws/vms.csv")

    body = client.get("/catalog/versions", headers=viewer).json()
    assert body["active"] == 2
    assert [(v["id"], v["kind"], v["active"]) for v in body["versions"]] == [
        (2, "refresh", True),
        (1, "packaged", False),
    ]
    assert body["versions"][0]["source"] == "https://example.test/aws/vms.csv"
    assert body["versions"][0]["providers"] == ["aws"] and len(body["versions"][0]["sha256"]) == 64

    one = client.get("/catalog/versions/1", headers=viewer).json()
    assert one["active"] is False and one["rows_per_provider"] == {"aws": 118, "gcp": 62}
    missing = client.get("/catalog/versions/9", headers=viewer)
    assert missing.status_code == 404 and "unknown catalog version 9" in missing.json()["detail"]


def test_a_decision_shows_its_catalog_version(
    client: TestClient, store: Store, keys: dict[Role, str]
) -> None:
    store.upsert_services([service("web")])
    store.save_decision(decision("d-web-1", service="web").model_copy(update={"catalog_version": 2}))
    body = client.get("/decisions/d-web-1", headers=bearer(keys[Role.VIEWER])).json()
    assert body["catalog_version"] == 2
