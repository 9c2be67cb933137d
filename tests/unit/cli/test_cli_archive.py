"""``swen maintenance run`` and ``swen archive list|read``: a day expires, is archived and dropped, and
reads back from Parquet; bad names and dates are one-line errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.builders import telemetry_sample
from support.cli import make_swen
from swen.config import Settings
from swen.store.repository import Store


def test_maintenance_archives_and_archive_read_gives_the_rows_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    old = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=40)
    with Store.open(Settings(home=home)) as store:
        samples = [telemetry_sample(s, ts=old + timedelta(hours=h)) for h in range(24) for s in ("web", "db")]
        store.insert_samples(samples)
    swen = make_swen(capsys, monkeypatch)
    env = {"SWEN_HOME": str(home), "SWEN_TELEMETRY_RETENTION_DAYS": "30"}
    run = swen("maintenance", "run", "--json", env=env)
    run.assert_ok()
    report = json.loads(run.out)
    assert report["dropped_days"] == [old.date().isoformat()] and report["deleted_rows"] == 48
    assert report["archived"][0]["rows"] == 48 and report["archived"][0]["written"]
    listed = swen("archive", "list", "--json", env=env)
    listed.assert_ok()
    assert [(d["day"], d["rows"]) for d in json.loads(listed.out)] == [(old.date().isoformat(), 48)]
    frm, to = old.date().isoformat(), (old + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%S")
    back = swen("archive", "read", "--service", "web", "--from", frm, "--to", to, "--json", env=env)
    back.assert_ok()
    rows = [json.loads(line) for line in back.out.splitlines()]
    assert len(rows) == 6 and {r["service"] for r in rows} == {"web"}
    table = swen("archive", "read", "--from", frm, "--to", to, env=env)
    table.assert_ok()
    assert "web" in table.out and "db" in table.out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--service", "../etc", "--from", "2026-11-01", "--to", "2026-11-02"], "invalid service name"),
        (["--from", "yesterday", "--to", "2026-11-02"], "--from: 'yesterday' is not a date or time"),
        (["--from", "2026-11-02", "--to", "2026-11-01"], "is not before --to"),
    ],
)
def test_archive_read_refuses_bad_input_in_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    needle: str,
) -> None:
    swen = make_swen(capsys, monkeypatch)
    swen("archive", "read", *args, env={"SWEN_HOME": str(tmp_path)}).assert_one_line_error(needle)
