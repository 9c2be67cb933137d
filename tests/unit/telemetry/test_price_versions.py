"""Price catalog versions on a real SQLite store: first use, refresh validation, history, following."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from support.builders import decision, service
from swen.config import Settings
from swen.domain.errors import ConflictError, InvalidInputError
from swen.domain.events import EventType
from swen.domain.models import Placement
from swen.store.catalogs import PACKAGED, CatalogVersions
from swen.store.repository import Store
from swen.telemetry.catalog import load_catalog
from swen.telemetry.price_versions import (
    CatalogFollower,
    catalog_of,
    ensure_recorded,
    packaged_prices,
    refresh,
    sha256_hex,
)
from swen.telemetry.simulator import Simulator

P = Placement.parse
WEB = service("web")  # 2 vCPU / 8 GiB in aws/us-east-1


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store.open(settings)
    s.upsert_services([WEB])
    yield s
    s.close()


def _rows(provider: str) -> list[dict[str, str]]:
    return [r for r in csv.DictReader(io.StringIO(packaged_prices())) if r["provider"] == provider]


def _file(rows: list[dict[str, str]], **changes: str) -> bytes:
    """Rows as a catalog file; ``changes`` maps "region/instance_type" (with / as __) to a new price."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        key = f"{row['region']}__{row['instance_type']}".replace("-", "_").replace(".", "_")
        writer.writerow({**row, "price_hour_usd": changes.get(key, row["price_hour_usd"])})
    return out.getvalue().encode()


def _catalog_events(store: Store) -> list[int]:
    return [e.payload["version"] for e in store.events_after(0, types=[EventType.CATALOG])]


def test_the_packaged_prices_are_version_1_recorded_once_on_first_use(store: Store) -> None:
    assert CatalogVersions(store).list() == []
    first = ensure_recorded(store)
    again = ensure_recorded(store)
    assert first == again
    assert (first.id, first.kind, first.providers) == (1, PACKAGED, ("aws", "gcp"))
    assert first.sha256 == sha256_hex(packaged_prices().encode())
    assert CatalogVersions(store).prices(1) == packaged_prices()
    assert _catalog_events(store) == [1]


def test_a_newer_packaged_file_becomes_the_next_version_but_never_replaces_a_refresh(store: Store) -> None:
    old = packaged_prices().replace(",0.096,", ",0.1,", 1)
    CatalogVersions(store).record(
        kind=PACKAGED, source="an older swen", sha256=sha256_hex(old.encode()), providers=["aws", "gcp"],
        offers=180, prices=old, based_on=None,
    )  # fmt: skip
    upgraded = ensure_recorded(store)
    assert (upgraded.id, upgraded.kind) == (2, PACKAGED)
    refresh(store, _file(_rows("aws"), us_east_1__m5_large="0.09"), "aws.csv")
    assert ensure_recorded(store).id == 3  # the refresh stays active


def test_a_refresh_replaces_the_named_providers_and_carries_the_others_over(store: Store) -> None:
    result = refresh(store, _file(_rows("aws"), us_west_2__c5_2xlarge="0.2"), "https://example.test/aws.csv")
    assert (result.previous.id, result.version.id, result.version.providers) == (1, 2, ("aws",))
    assert result.version.source == "https://example.test/aws.csv"
    assert (result.changes.changed, result.changes.added, result.changes.removed) == (1, 0, 0)
    catalog = catalog_of(store, 2)
    assert {
        o.price_hour_usd for o in catalog.offers("aws", "us-west-2") if o.instance_type == "c5.2xlarge"
    } == {0.2}
    assert len(catalog.offers("gcp")) == len(load_catalog().offers("gcp"))  # carried over
    assert len(catalog.offers("alibaba")) == len(load_catalog().offers("alibaba"))  # synthetic, packaged
    assert _catalog_events(store) == [1, 2]


def test_the_same_prices_again_record_nothing(store: Store) -> None:
    result = refresh(store, _file(_rows("aws")), "aws.csv")
    assert result.unchanged and result.version.id == 1
    assert [v.id for v in CatalogVersions(store).list()] == [1]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "aws.csv: missing column(s) provider"),
        (b"provider,region\naws,us-east-1\n", "aws.csv: missing column(s) instance_type"),
        (_file(_rows("aws")).split(b"\n")[0] + b"\n", "aws.csv: no price rows after the header"),
        (_file(_rows("aws"), us_east_1__m5_large="-1"), "aws.csv line "),
        (_file(_rows("aws"), us_east_1__m5_large="cheap"), "column price_hour_usd: 'cheap' is not a number"),
        (_file(_rows("aws")).replace(b"aws,us-east-1,m5.large", b"azure,us-east-1,m5.large"),
         "column provider: unknown provider 'azure'"),
        (_file(_rows("aws")).replace(b"aws,us-east-1,m5.large", b"aws,us-east-1;rm -rf,m5.large"),
         "column region:"),
        (_file(_rows("aws")).replace(b"aws,us-east-1,m5.large", b"alibaba,us-east-1,m5.large"),
         "column provider: alibaba prices are synthetic"),
        (b"\xff\xfe" + _file(_rows("aws")), "aws.csv: byte 0 is not UTF-8"),
    ],
    ids=["empty", "missing-columns", "header-only", "negative", "not-a-number", "unknown-provider",
         "bad-region", "synthetic-provider", "not-utf8"],
)  # fmt: skip
def test_a_bad_file_is_refused_naming_what_is_wrong_and_nothing_is_written(
    store: Store, data: bytes, expected: str
) -> None:
    ensure_recorded(store)
    with pytest.raises(InvalidInputError) as info:
        refresh(store, data, "aws.csv")
    assert expected in info.value.message
    assert [v.id for v in CatalogVersions(store).list()] == [1]
    assert _catalog_events(store) == [1]


def test_a_bad_row_is_named_by_its_line_in_the_file_and_its_column(store: Store) -> None:
    data = _file(_rows("aws"), us_east_1__m5_large="-1")
    line = next(i for i, text in enumerate(data.decode().splitlines(), 1) if ",-1," in text)
    with pytest.raises(
        InvalidInputError, match=rf"aws.csv line {line}, column price_hour_usd: -1.0 is negative"
    ):
        refresh(store, data, "aws.csv")


def test_a_refresh_that_drops_where_a_service_runs_is_refused(store: Store) -> None:
    rows = [r for r in _rows("aws") if r["region"] != "us-east-1"]
    with pytest.raises(InvalidInputError, match=r"no offer left for web on aws/us-east-1"):
        refresh(store, _file(rows), "aws.csv")
    assert [v.id for v in CatalogVersions(store).list()] == [1]


def test_a_refresh_built_on_a_stale_version_is_refused_and_writes_nothing(store: Store) -> None:
    ensure_recorded(store)
    with pytest.raises(ConflictError, match="another refresh was recorded meanwhile"):
        CatalogVersions(store).record(
            kind="refresh",
            source="x",
            sha256="0" * 64,
            providers=["aws"],
            offers=1,
            prices="p",
            based_on=None,
        )
    assert [v.id for v in CatalogVersions(store).list()] == [1]


def test_the_follower_takes_up_a_refresh_and_the_simulator_reprices(store: Store) -> None:
    follower = CatalogFollower(store)
    assert follower.version_id == 1 and follower.poll() is None
    sim = Simulator([WEB], follower.catalog, seed=1, start=datetime(2026, 1, 1, tzinfo=UTC), noise=False)
    before = {
        s.provider + "/" + s.region: s.hourly_cost_usd for s in sim.step(datetime(2026, 1, 1, tzinfo=UTC))
    }
    refresh(store, _file(_rows("aws"), us_east_1__m5_large="0.05"), "aws.csv")

    new = follower.poll()
    assert new is not None and follower.version_id == 2
    assert sim.reprice(new) == 1
    after = {
        s.provider + "/" + s.region: s.hourly_cost_usd
        for s in sim.step(datetime(2026, 1, 1, 0, 5, tzinfo=UTC))
    }
    assert before["aws/us-east-1"] == 0.096 and after["aws/us-east-1"] == 0.05
    assert after["aws/us-west-2"] == before["aws/us-west-2"]


def test_a_decision_names_its_catalog_version_in_its_audit_event_and_old_ones_stay_unchanged(
    store: Store,
) -> None:
    store.save_decision(decision("d-old", service="web"))
    store.save_decision(decision("d-new", service="web").model_copy(update={"catalog_version": 2}))
    events = {e.decision_id: e.payload for e in store.events_after(0, types=[EventType.DECISION])}
    assert "catalog_version" not in events["d-old"] and events["d-new"]["catalog_version"] == 2
    assert store.get_decision("d-new").decision.catalog_version == 2
    store.save_decision(decision("d-old", service="web"))  # saving the same decision again: no conflict


def test_versions_on_both_backends(database_url: str) -> None:
    """Recording, refreshing, the audit chain and reading an old version: SQLite and PostgreSQL alike."""
    with Store.from_url(database_url) as db:
        db.upsert_services([WEB])
        assert ensure_recorded(db).id == 1
        result = refresh(db, _file(_rows("aws"), us_west_2__c5_2xlarge="0.2"), "aws.csv")
        assert result.version.id == 2 and CatalogVersions(db).active_id() == 2
        assert [v.id for v in CatalogVersions(db).list()] == [2, 1]
        assert CatalogVersions(db).prices(1) == packaged_prices()
        assert CatalogVersions(db).get(2).created_at.tzinfo is not None
        assert _catalog_events(db) == [1, 2] and db.verify_audit().ok
