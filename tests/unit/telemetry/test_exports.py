"""Atomic JSON exports: complete old or new file, never a truncated one, no temp files left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from support.builders import telemetry_sample
from swen.domain.errors import StoreError
from swen.store import exports
from swen.store.exports import atomic_write_json, write_latest_telemetry

TS = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def test_write_and_overwrite_leave_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    atomic_write_json(path, {"a": 1})
    atomic_write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_unserialisable_or_nan_data_touches_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    atomic_write_json(path, {"ok": True})
    for bad in ({"x": float("nan")}, {"x": float("inf")}, {"x": object()}):
        with pytest.raises(StoreError, match=r"cannot write out\.json"):
            atomic_write_json(path, bad)
    assert json.loads(path.read_text()) == {"ok": True}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_failure_during_rename_keeps_old_file_and_removes_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.json"
    atomic_write_json(path, {"version": "old"})

    def crash(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(exports.os, "replace", crash)
    with pytest.raises(StoreError, match="No space left on device"):
        atomic_write_json(path, {"version": "new"})
    assert json.loads(path.read_text()) == {"version": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_interrupt_during_write_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.json"
    atomic_write_json(path, {"version": "old"})

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(exports.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_json(path, {"version": "new"})
    assert json.loads(path.read_text()) == {"version": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


_WRITER = """
import sys
from pathlib import Path
from swen.store.exports import atomic_write_json
path = Path(sys.argv[1])
i = 0
print("ready", flush=True)
while True:
    i += 1
    atomic_write_json(path, {"i": i, "payload": ["x" * 200] * 5000})
"""


def test_killed_writer_never_leaves_a_truncated_file(tmp_path: Path) -> None:
    """SIGKILL a process that rewrites a ~1 MB file in a loop; the file always parses."""
    path = tmp_path / "latest.json"
    atomic_write_json(path, {"i": 0, "payload": []})
    for _ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(0.15)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        data = json.loads(path.read_text())
        assert data["i"] == 0 or len(data["payload"]) == 5000


def test_orphaned_temp_files_are_cleaned_when_old(tmp_path: Path) -> None:
    path = tmp_path / "latest.json"
    orphan = tmp_path / ".latest.json.abc123.tmp"
    orphan.write_text('{"half')
    fresh = tmp_path / ".latest.json.def456.tmp"
    fresh.write_text('{"half')
    old = time.time() - exports.ORPHAN_AGE_S - 10
    os.utime(orphan, (old, old))
    atomic_write_json(path, {"ok": 1})
    assert not orphan.exists()
    assert fresh.exists()  # might belong to a concurrent writer


def test_latest_telemetry_shape_and_simulated_label(tmp_path: Path) -> None:
    path = tmp_path / "latest_telemetry.json"
    samples = [
        telemetry_sample("service-3", where, ts=TS, hourly=0.3528)
        for where in ("alibaba/ap-southeast-1", "aws/ap-southeast-1")
    ]
    write_latest_telemetry(path, samples, TS)
    data = json.loads(path.read_text())
    assert data["generated_at"] == "2026-01-05T12:00:00+00:00"
    alibaba, aws = data["samples"]
    assert set(alibaba) == {
        "service",
        "provider",
        "region",
        "ts",
        "instance_type",
        "hourly_cost_usd",
        "monthly_cost_usd",
        "latency_ms",
        "credits_usd",
        "gpu_availability",
        "availability",
        "error_rate",
        "price_simulated",
        "price_note",
    }
    assert alibaba["price_simulated"] is True and alibaba["price_note"].startswith("SIMULATED")
    assert aws["price_simulated"] is False and aws["price_note"] is None
    assert alibaba["monthly_cost_usd"] == pytest.approx(0.3528 * 730)


def test_the_batch_export_is_byte_for_byte_the_samples_export(tmp_path: Path) -> None:
    """``write_latest_telemetry_batch`` (the simulator's path) writes what ``write_latest_telemetry``
    writes for the same samples: rounding, monthly cost, synthetic price notes, the ``current`` flag."""
    import numpy as np

    from swen.domain.models import Placement
    from swen.store.exports import write_latest_telemetry_batch
    from swen.telemetry.catalog import load_catalog
    from swen.telemetry.fleet import load_fleet
    from swen.telemetry.simulator import Simulator

    fleet = load_fleet()
    sim = Simulator(fleet, load_catalog(), 3, TS, 5.0)
    arrays = sim.step_arrays(TS)
    rng = np.random.default_rng(1)
    arrays.hourly_cost_usd[:] = rng.uniform(0, 50, arrays.hourly_cost_usd.shape)  # many digits to round
    arrays.latency_ms[0] = 1e-7  # rounds to 0.0
    batch = arrays.to_batch()
    placements = {s.name: s.fleet_placement for s in fleet} | {
        fleet[0].name: Placement(provider="alibaba", region="us-west-1")
    }
    assert any(batch.groups.simulated_price)
    for where in (placements, None):
        write_latest_telemetry(tmp_path / "samples.json", batch.samples(), TS, placements=where)
        write_latest_telemetry_batch(tmp_path / "batch.json", batch, TS, placements=where)
        assert (tmp_path / "batch.json").read_bytes() == (tmp_path / "samples.json").read_bytes()
    rows = json.loads((tmp_path / "batch.json").read_text())["samples"]
    assert len(rows) == len(batch) and "current" not in rows[0]


def test_round6_gives_pythons_round_to_six_decimals_bit_for_bit() -> None:
    import numpy as np

    from swen.store.exports import round6

    rng = np.random.default_rng(7)
    halves = (np.arange(-3, 2000) + 0.5) / 1e6  # exact decimal ties, then their nearest doubles
    values = np.concatenate(
        [
            rng.uniform(0, 1, 20_000),
            rng.uniform(0, 1e9, 20_000),
            halves,
            np.nextafter(halves, 0),
            np.nextafter(halves, 1),
            [0.0, 1e-7, 2.675, 1.0000005, 0.0000005, 999_999_999.9999995, 1e9, 140.16 / 730],
        ]
    )
    values = values[values >= 0]
    assert round6(values) == [round(v, 6) for v in values.tolist()]
