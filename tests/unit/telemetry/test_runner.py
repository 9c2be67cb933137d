"""The simulator loop against a real SQLite store and the real file system."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from swen.config import Settings
from swen.domain.errors import ConfigError, StoreError
from swen.domain.events import EventType
from swen.domain.models import Placement
from swen.store.archive import Archive
from swen.store.repository import Store
from swen.telemetry.fleet import load_fleet
from swen.telemetry.ledger import LiveLedger
from swen.telemetry.runner import run_simulator
from swen.telemetry.scenarios import Scenario, ScenarioKind, inject_scenario

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(settings: Settings) -> Store:
    s = Store.open(settings)
    yield s  # type: ignore[misc]
    s.close()


def test_once_writes_samples_json_and_event(settings: Settings, store: Store) -> None:
    run = run_simulator(settings, store, once=True, seed=1, start=START)
    assert run.steps == 1 and run.samples > 0
    assert {s.name for s in store.list_services()} == {s.name for s in load_fleet()}
    latest = store.latest_samples()
    assert len(latest) == run.samples
    data = json.loads(settings.latest_telemetry_path.read_text())
    assert data["generated_at"] == START.isoformat() and len(data["samples"]) == run.samples
    alibaba = [s for s in data["samples"] if s["provider"] == "alibaba"]
    assert alibaba and all(s["price_simulated"] and s["price_note"].startswith("SIMULATED") for s in alibaba)
    [event] = store.events_after(0, types=[EventType.TELEMETRY_CYCLE])
    assert event.payload["count"] == run.samples and event.payload["sim_time"] == START.isoformat()
    assert [p.name for p in settings.home.iterdir() if p.name.endswith(".tmp")] == []


def test_a_failed_insert_publishes_no_export_and_leaves_no_temp_file(
    settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export is staged while the tick is inserted and renamed into place only after the commit."""
    run_simulator(settings, store, once=True, seed=1, start=START)
    before = settings.latest_telemetry_path.read_bytes()

    def refuse(batch: object) -> int:
        raise StoreError("inserting telemetry samples failed: disk full", hint="free some space")

    monkeypatch.setattr(store, "insert_sample_batch", refuse)
    with pytest.raises(StoreError, match="disk full"):
        run_simulator(settings, store, once=True, seed=1, start=START + timedelta(seconds=5))
    assert settings.latest_telemetry_path.read_bytes() == before
    assert [p.name for p in settings.latest_telemetry_path.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert {s.ts for s in store.latest_samples()} == {START}
    assert len(store.events_after(0, types=[EventType.TELEMETRY_CYCLE])) == 1


def test_same_seed_and_start_give_the_same_samples(tmp_path: Path) -> None:
    def once(home: Path) -> list[dict[str, object]]:
        home.mkdir()
        settings = Settings(home=home)
        with Store.open(settings) as store:
            run_simulator(settings, store, once=True, seed=5, start=START)
        return list(json.loads(settings.latest_telemetry_path.read_text())["samples"])

    assert once(tmp_path / "a") == once(tmp_path / "b")


def test_bad_fleet_file_fails_before_writing_anything(swen_home: Path, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(yaml.safe_dump({"services": [{"name": "Bad Name"}]}))
    settings = Settings(home=swen_home, fleet_file=fleet)
    with Store.open(settings) as store:
        with pytest.raises(ConfigError, match=r"fleet.yaml: services\[0\].name: 'Bad Name' breaks"):
            run_simulator(settings, store, once=True, start=START)
        assert store.list_services() == [] and store.latest_samples() == []
        assert store.events_after(0) == []
    assert not settings.latest_telemetry_path.exists()


def test_bad_scenario_file_fails_before_writing_anything(swen_home: Path, tmp_path: Path) -> None:
    scenarios = tmp_path / "scenarios.yaml"
    scenarios.write_text(yaml.safe_dump({"scenarios": [{"kind": "outage", "provider": "azure"}]}))
    settings = Settings(home=swen_home, scenario_file=scenarios)
    with Store.open(settings) as store:
        with pytest.raises(ConfigError, match=r"scenarios\.yaml: scenarios\[0\]\.provider: unknown provider"):
            run_simulator(settings, store, once=True, start=START)
        assert store.list_services() == [] and store.events_after(0) == []
    assert not settings.latest_telemetry_path.exists()


def test_injected_scenario_reaches_the_simulator(settings: Settings, store: Store) -> None:
    inject_scenario(store, Scenario(kind=ScenarioKind.OUTAGE, provider="aws", region="us-east-1"))
    run_simulator(settings, store, once=True, seed=1, start=START)
    samples = json.loads(settings.latest_telemetry_path.read_text())["samples"]
    hit = [s for s in samples if (s["provider"], s["region"]) == ("aws", "us-east-1")]
    assert hit and all(s["availability"] <= 0.2 for s in hit)
    assert all(s["availability"] > 0.9 for s in samples if s["provider"] != "aws")
    [event] = store.events_after(0, types=[EventType.TELEMETRY_CYCLE])
    assert event.payload["active_scenarios"] == ["outage on aws/us-east-1 (x1, 900 s)"]


def test_accelerated_run_archives_and_drops_expired_days(settings: Settings, store: Store) -> None:
    fast = Settings(home=settings.home, telemetry_retention_days=1)  # retention drops whole UTC days
    run = run_simulator(fast, store, seed=1, start=START, interval_s=3600, speed=1e9, max_steps=60)
    assert run.steps == 60 and run.last_sim_time == START + timedelta(hours=59)
    per_step = run.samples // run.steps
    # START is noon of Jan 5: that day (12 samples per place) expired once the clock passed Jan 7 00:00
    assert run.purged == 12 * per_step
    oldest = store.samples_between(start=START - timedelta(days=1), end=START + timedelta(days=3), limit=1)
    assert oldest[0].ts == datetime(2026, 1, 6, tzinfo=UTC)
    archived = Archive(fast.resolved_archive_url).read(start=START, end=START + timedelta(days=1))
    assert len(archived) == 12 * per_step and archived[0].ts == START
    assert len(store.events_after(0, types=[EventType.TELEMETRY_CYCLE])) == 60


def test_samples_carry_the_live_ledgers_balances(settings: Settings, store: Store) -> None:
    """The simulator does not burn credits on the live platform: its samples publish the store's
    ledger (burnt by the engine where services run, ``telemetry/ledger.py``)."""

    def alibaba_credits() -> set[float]:
        return {s.credits_usd for s in store.latest_samples() if s.provider == "alibaba"}

    run_simulator(settings, store, seed=1, start=START, interval_s=3600, speed=1e9, max_steps=3)
    assert alibaba_credits() == {60.0}  # the packaged ledger's opening balance, nothing burnt yet
    ledger = LiveLedger(settings, store)
    services = store.list_services()
    moved = {"service-2": Placement.parse("alibaba/us-west-1")}
    assert ledger.catch_up(START, services, moved) == 0  # the ledger starts here
    assert ledger.catch_up(START + timedelta(hours=1), services, moved) == 12  # 5-minute intervals
    burnt = ledger.balances()["alibaba"]
    assert 0 < burnt < 60
    run_simulator(settings, store, seed=1, interval_s=3600, speed=1e9, max_steps=1)
    assert alibaba_credits() == {burnt}


def test_stop_event_ends_a_live_run(settings: Settings, store: Store) -> None:
    stop = threading.Event()
    result: dict[str, object] = {}

    def target() -> None:
        result["run"] = run_simulator(
            settings, store, seed=1, start=START, interval_s=5, speed=1.0, stop_event=stop
        )

    thread = threading.Thread(target=target)
    thread.start()
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while not settings.latest_telemetry_path.exists() and datetime.now(UTC) < deadline:
        threading.Event().wait(0.05)
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert result["run"].steps == 1  # type: ignore[attr-defined]


_LIVE = """
import sys
from pathlib import Path
from swen.config import Settings
from swen.store.repository import Store
from swen.telemetry.runner import run_simulator
settings = Settings(home=Path(sys.argv[1]))
with Store.open(settings) as store:
    run = run_simulator(settings, store, seed=1, interval_s=5, speed=1.0)
print("stopped after", run.steps, flush=True)
"""


def test_sigterm_stops_a_live_run_cleanly(swen_home: Path) -> None:
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", _LIVE, str(swen_home)], stdout=subprocess.PIPE, text=True)
    latest = swen_home / "latest_telemetry.json"
    deadline = time.monotonic() + 60
    while not latest.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.terminate()  # SIGTERM while the loop waits for the next cycle
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert out.startswith("stopped after 1")
    assert json.loads(latest.read_text())["samples"]
    assert [p.name for p in swen_home.iterdir() if p.name.endswith(".tmp")] == []


def test_a_restarted_simulator_resumes_after_the_stored_time_and_the_engine_keeps_seeing_ticks(
    settings: Settings, store: Store
) -> None:
    from swen.loop import EngineLoop

    # an accelerated run gets ahead of wall time: 6 samples 10 simulated minutes apart in no time
    first = run_simulator(settings, store, seed=1, interval_s=600, speed=1e9, max_steps=6)
    engine = EngineLoop(settings, store, actuator=None)
    assert engine.cycle().ticks > 0  # the engine has seen the first run's newest tick
    assert first.last_sim_time is not None

    restarted = run_simulator(settings, store, seed=1, interval_s=600, speed=1e9, max_steps=3)

    assert restarted.first_sim_time == first.last_sim_time + timedelta(seconds=600)
    assert max(s.ts for s in store.latest_samples()) == restarted.last_sim_time
    assert engine.cycle().ticks > 0


def test_an_explicit_start_wins_over_the_stored_time(settings: Settings, store: Store) -> None:
    run_simulator(settings, store, seed=1, start=START, interval_s=600, speed=1e9, max_steps=3)
    again = run_simulator(settings, store, seed=1, start=START, once=True)
    assert again.first_sim_time == START
