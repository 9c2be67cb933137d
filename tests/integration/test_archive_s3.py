"""The telemetry archive on ``s3://`` through s3fs, against moto's S3 server on loopback (no real S3
server can run on these machines): write, drop the day, read back from Parquet, equal; a rerun after
a crash between the archive and the drop writes nothing twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from support.builders import T0, telemetry_sample
from support.processes import free_port
from swen.config import Settings
from swen.domain.models import TelemetrySample
from swen.store.archive import Archive
from swen.store.maintenance import archive_day, archive_for, maintain
from swen.store.repository import Store

pytestmark = pytest.mark.slow
BUCKET = "swen-archive"


@pytest.fixture
def s3_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    import boto3
    import httpx

    httpx.post(f"{endpoint}/moto-api/reset")  # moto's backends live in this process: start empty
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    try:
        yield endpoint
    finally:
        httpx.post(f"{endpoint}/moto-api/reset")
        server.stop()


def _samples() -> list[TelemetrySample]:
    return [
        telemetry_sample(service, "aws/us-east-1", ts=T0 + timedelta(minutes=30 * i), latency=20.0 + i)
        for i in range(96)  # two days
        for service in ("service-1", "service-2")
    ]


def _settings(tmp_path: Path, endpoint: str) -> Settings:
    return Settings(
        home=tmp_path / "home", archive_url=f"s3://{BUCKET}/prod/telemetry", archive_endpoint_url=endpoint,
        telemetry_retention_days=1,
    )  # fmt: skip


def test_s3_archive_round_trip(any_store: Store, s3_endpoint: str, tmp_path: Path) -> None:
    store = any_store
    store.insert_samples(_samples())
    before = store.samples_between(start=T0, end=T0 + timedelta(days=1))
    settings = _settings(tmp_path, s3_endpoint)
    report = maintain(store, settings, now=T0 + timedelta(days=2, hours=1))
    assert report.dropped_days == [T0.date()] and report.deleted_rows == len(before) == 96
    assert store.samples_between(start=T0, end=T0 + timedelta(days=1)) == []
    archive = archive_for(settings)
    key = f"{BUCKET}/prod/telemetry/telemetry/2026/11/telemetry-20261101.parquet"
    assert archive.fs.exists(key) and not archive.fs.exists(key + ".tmp")
    back = archive.read(start=T0, end=T0 + timedelta(days=1))
    assert back == sorted(before, key=lambda s: (s.ts, s.service, s.provider, s.region))
    assert archive.read(start=T0, end=T0 + timedelta(days=1), service="service-2") == [
        s for s in back if s.service == "service-2"
    ]


def test_s3_rerun_after_a_crash_writes_nothing_twice(
    any_store: Store, s3_endpoint: str, tmp_path: Path
) -> None:
    store = any_store
    store.insert_samples(_samples())
    settings = _settings(tmp_path, s3_endpoint)
    archive: Archive = archive_for(settings)
    assert archive_day(store, archive, T0.date()).written  # the process died before the drop
    report = maintain(store, settings, now=T0 + timedelta(days=2, hours=1))
    assert [(a.day, a.written, a.rows) for a in report.archived] == [(T0.date(), False, 96)]
    objects = archive.fs.find(f"{BUCKET}/prod/telemetry")
    assert objects == [f"{BUCKET}/prod/telemetry/telemetry/2026/11/telemetry-20261101.parquet"]
    assert len(archive.read(start=T0, end=T0 + timedelta(days=1))) == 96
