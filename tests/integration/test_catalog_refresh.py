"""A refreshed price catalog changes a decision, and the audit log names the version each one used.

Real store (SQLite), the real simulator and the real engine loop; the refresh goes through the same
function as `swen catalog refresh --from FILE`. The telemetry is the same seeded run throughout: only
the prices in force change between the two decisions.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from swen.config import Settings
from swen.domain.decision import DecisionAction
from swen.domain.events import EventType
from swen.domain.models import Placement
from swen.loop import EngineLoop
from swen.moves.lifecycle import Lifecycle
from swen.store.catalogs import CatalogVersions
from swen.store.repository import Store
from swen.telemetry.price_versions import catalog_of, packaged_prices, refresh
from swen.telemetry.runner import run_simulator

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
P = Placement.parse


@pytest.fixture
def store(settings: Settings) -> Store:
    s = Store.open(settings)
    yield s  # type: ignore[misc]
    s.close()


def _aws_prices_with(instance: tuple[str, str], price: float) -> bytes:
    """The packaged AWS rows (a one-provider catalog file, as SkyPilot publishes one per cloud) with one
    on-demand price changed."""
    rows = [r for r in csv.DictReader(io.StringIO(packaged_prices())) if r["provider"] == "aws"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        if (row["region"], row["instance_type"]) == instance:
            row["price_hour_usd"] = str(price)
        writer.writerow(row)
    return out.getvalue().encode()


def _service2_decisions(store: Store) -> list[tuple[str, int | None, str]]:
    return [
        (e.payload["to"], e.payload.get("catalog_version"), e.decision_id or "")
        for e in store.events_after(0, types=[EventType.DECISION])
        if e.service == "service-2"
    ]


def test_a_refreshed_catalog_changes_a_decision_and_the_audit_log_names_both_versions(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    steps = settings.window_size + 2
    run_simulator(settings, store, start=T0, max_steps=steps, seed=11, speed=1e9)
    loop = EngineLoop(settings, store, anomaly_detection=False)  # advises only: no infra repository
    loop.cycle()

    [(to, version, first_id)] = _service2_decisions(store)
    assert (to, version) == ("alibaba/us-west-1", 1)  # the packaged prices: version 1, recorded on first use
    first = store.get_decision(first_id).decision
    assert first.action is DecisionAction.MIGRATE and first.catalog_version == 1
    [v1] = CatalogVersions(store).list()
    assert (v1.id, v1.kind, v1.source) == (1, "packaged", "swen/data/prices.csv (packaged)")

    # Without an actuator the advised move stays proposed; withdraw it so the engine may advise again.
    Lifecycle(store).withdrawn(first_id, "waiting for the new AWS price list")

    # AWS us-west-2 c5.2xlarge (next to service-2's users) becomes far cheaper than the synthetic
    # Alibaba offer (0.2975 $/h).
    path = tmp_path / "aws-vms.csv"
    path.write_bytes(_aws_prices_with(("us-west-2", "c5.2xlarge"), 0.2))
    result = refresh(store, path.read_bytes(), str(path))
    assert (result.previous.id, result.version.id) == (1, 2)
    assert result.changes.changed == 1 and "aws/us-west-2 c5.2xlarge 0.34 -> 0.2" in result.changes.describe()
    assert result.version.providers == ("aws",)
    assert result.version.source == str(path)

    run_simulator(settings, store, start=T0 + timedelta(seconds=settings.sim_interval_s * steps),
                  max_steps=steps, seed=11, speed=1e9)  # fmt: skip
    loop.cycle()

    decisions = _service2_decisions(store)
    assert [(to, version) for to, version, _ in decisions] == [("alibaba/us-west-1", 1), ("aws/us-west-2", 2)]
    second = store.get_decision(decisions[1][2]).decision
    assert second.catalog_version == 2 and second.target == P("aws/us-west-2")

    # The prices in force for the first decision are still readable after the refresh.
    shape = next(s for s in store.list_services() if s.name == "service-2").shape
    old = catalog_of(store, 1).best_offer(shape, P("aws/us-west-2"))
    new = catalog_of(store, 2).best_offer(shape, P("aws/us-west-2"))
    assert old is not None and new is not None
    assert (old.price_hour_usd, new.price_hour_usd) == (0.34, 0.2)
    [refreshed] = store.events_after(0, types=[EventType.CATALOG])[1:]
    assert refreshed.payload["version"] == 2 and refreshed.payload["sha256"] == result.version.sha256
    assert store.verify_audit().ok
