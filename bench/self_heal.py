"""Self-healing benchmark: an outage at t0, then detection, MR opened, applied and verified times.

Two paths, each on a fresh platform (SQLite, real git, real Terraform sim root, the simulator running
in real time at one sample per second):

- ``engine``: the engine's own anomaly detector (``swen.healing.detection``), engine cycle as fast as
  telemetry arrives;
- ``both`` (production): the engine's detector and Prometheus/Alertmanager together; the report says
  which one saw the outage first and by how much;
- ``prometheus``: the engine's detector and its automatic emergency are switched off; the real
  Prometheus scrapes the API's ``/metrics`` (scrape 1 s, evaluation 1 s, the fast profile's ``for``),
  the real Alertmanager (group_wait 1 s) posts ProviderOutage to ``POST /alerts`` (uvicorn on a
  loopback port, bearer token from a credentials file), and the engine acts on the incident.

t0 is when the outage scenario is injected (the simulator applies it from its next tick, within 1 s).
Times are wall seconds after t0, read from the audit log: detected = incident opened, MR opened,
applied, verified = the emergency decision's transitions. Goals: detection -> applied <= 5 s on the
engine path, fault -> verified <= 20 s on the Prometheus path.

    .venv/bin/python bench/self_heal.py [--paths engine,prometheus,both] [--runs 3]

The :class:`Harness` is also what ``tests/integration/test_self_healing.py`` drives.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import util as importlib_util
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from swen.config import Settings
from swen.domain.decision import TERMINAL_STATUSES, DecisionStatus
from swen.domain.events import EventType
from swen.domain.incidents import IncidentRecord
from swen.gitops.repo import init_infra_repo
from swen.healing.report import incident_report
from swen.loop import EngineLoop, gitops_actuator
from swen.store.incidents import IncidentRepository
from swen.store.repository import Store
from swen.telemetry.runner import run_simulator
from swen.telemetry.scenarios import Scenario, ScenarioKind, inject_scenario

ROOT = Path(__file__).resolve().parents[1]
ALERT_TOKEN = "self-heal-alert-token"
OUTAGE_SERVICE = "service-3"
OUTAGE_PROVIDER, OUTAGE_REGION = "alibaba", "ap-southeast-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fast_profile() -> ModuleType:
    path = ROOT / "deploy" / "prometheus" / "fast_profile.py"
    spec = importlib_util.spec_from_file_location("swen_fast_profile", path)
    assert spec is not None and spec.loader is not None
    module = importlib_util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Timings:
    path: str
    t0: float
    incident_id: int | None = None
    source: str | None = None
    detected_s: float | None = None
    mr_opened_s: float | None = None
    applied_s: float | None = None
    verified_s: float | None = None
    resolved_s: float | None = None
    ttr_s: float | None = None
    decision_id: str | None = None
    first_detector: str | None = None
    lead_s: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def detection_to_applied_s(self) -> float | None:
        if self.detected_s is None or self.applied_s is None:
            return None
        return self.applied_s - self.detected_s


class Harness:
    """A whole platform on loopback: simulator thread, engine loop (driven by the caller), and with
    ``prometheus=True`` the API (uvicorn thread), Prometheus and Alertmanager (subprocesses)."""

    def __init__(self, home: Path, *, prometheus: bool, engine_detector: bool, sim_interval_s: float = 1.0):
        self.home = home
        self.prometheus = prometheus
        self.engine_detector = engine_detector
        self.settings = Settings(
            home=home,
            sim_interval_s=sim_interval_s,
            sim_speed=1.0,
            verify_samples=3,
            quarantine_s=600,
            alert_token=ALERT_TOKEN,  # type: ignore[arg-type]
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._procs: list[subprocess.Popen[bytes]] = []
        self._server: Any = None
        self.api_url = ""
        self.prom_url = ""
        self.store: Store | None = None
        self.loop: EngineLoop | None = None
        self.errors: list[str] = []

    # --- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Harness:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        init_infra_repo(self.settings)
        self.store = Store.open(self.settings)
        if self.prometheus:
            self._start_api()
            self._start_prometheus()
        self._start_simulator()
        self.loop = EngineLoop(
            self.settings,
            self.store,
            actuator=gitops_actuator(self.settings, self.store),
            anomaly_detection=self.engine_detector,
        )
        if not self.engine_detector:  # only Prometheus/Alertmanager may start an emergency
            self.loop.params = self.loop.params.model_copy(update={"auto_emergency": False})

    def _start_api(self) -> None:
        import uvicorn

        from swen.api.app import create_app

        port = free_port()
        config = uvicorn.Config(create_app(self.settings), host="127.0.0.1", port=port, log_level="warning")
        self._server = uvicorn.Server(config)
        thread = threading.Thread(target=self._server.run, name="swen-api", daemon=True)
        thread.start()
        self._threads.append(thread)
        self.api_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.api_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the API did not start within 30 s")

    def _start_prometheus(self) -> None:
        prometheus, alertmanager = shutil.which("prometheus"), shutil.which("prometheus-alertmanager")
        if prometheus is None or alertmanager is None:
            raise FileNotFoundError("prometheus / prometheus-alertmanager not installed")
        profile = fast_profile()
        conf = self.home / "monitoring"
        token = conf / "alert-token"
        conf.mkdir(parents=True, exist_ok=True)
        token.write_text(ALERT_TOKEN)
        token.chmod(0o600)
        am_port, prom_port = free_port(), free_port()
        api = self.api_url.removeprefix("http://")
        prom_yml = profile.render_prometheus(conf, api_target=api, alertmanager_target=f"127.0.0.1:{am_port}")
        am_yml = profile.render_alertmanager(
            conf / "am", alerts_url=f"{self.api_url}/alerts", token_file=token
        )
        self._procs.append(
            subprocess.Popen(
                [alertmanager, f"--config.file={am_yml}", f"--storage.path={conf / 'am-data'}",
                 f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=",
                 f"--web.external-url=http://127.0.0.1:{am_port}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        self._procs.append(
            subprocess.Popen(
                [prometheus, f"--config.file={prom_yml}", f"--storage.tsdb.path={conf / 'prom-data'}",
                 f"--web.listen-address=127.0.0.1:{prom_port}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        self.prom_url = f"http://127.0.0.1:{prom_port}"

    def _start_simulator(self) -> None:
        def simulate() -> None:
            with Store.open(self.settings) as sim_store:
                try:
                    run_simulator(self.settings, sim_store, stop_event=self._stop, seed=11)
                except Exception as exc:  # surfaced by the caller through self.errors
                    self.errors.append(f"simulator: {exc}")

        thread = threading.Thread(target=simulate, name="swen-simulator", daemon=True)
        thread.start()
        self._threads.append(thread)

    def close(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.should_exit = True
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for thread in self._threads:
            thread.join(timeout=15)
        if self.store is not None:
            self.store.close()
            self.store = None

    # --- driving -----------------------------------------------------------------------------
    def pump(self, until: Callable[[], bool], timeout_s: float) -> bool:
        """Run engine cycles (as fast as telemetry arrives) until ``until()`` or the timeout."""
        assert self.loop is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            report = self.loop.cycle()
            self.errors.extend(report.errors)
            if until():
                return True
            if report.ticks == 0:
                time.sleep(0.05)
        return until()

    def quiet(self) -> bool:
        """Warm: a full window seen, nothing in flight, Prometheus scraping (when used)."""
        assert self.loop is not None and self.store is not None
        window = self.loop._window
        if window is None or window.updates < self.settings.window_size:
            return False
        busy = [  # a decision waiting for a person (manual review) does not keep the platform busy
            d for d in self.store.list_decisions(limit=50)
            if d.status not in TERMINAL_STATUSES and d.status is not DecisionStatus.AWAITING_APPROVAL
        ]  # fmt: skip
        if busy:
            return False
        return not self.prometheus or self._prometheus_up()

    def _prometheus_up(self) -> bool:
        try:
            r = httpx.get(f"{self.prom_url}/api/v1/query", params={"query": "up"}, timeout=1)
            result = r.json()["data"]["result"]
        except (httpx.HTTPError, KeyError, ValueError):
            return False
        return any(item["value"][1] == "1" for item in result)

    def inject_outage(self, service: str = OUTAGE_SERVICE, provider: str = OUTAGE_PROVIDER,
                      region: str = OUTAGE_REGION) -> float:  # fmt: skip
        assert self.store is not None
        t0 = time.time()
        inject_scenario(
            self.store,
            Scenario(
                kind=ScenarioKind.OUTAGE, provider=provider, region=region, service=service, duration_s=600
            ),
        )
        return t0

    def incident(
        self, service: str = OUTAGE_SERVICE, provider: str = OUTAGE_PROVIDER
    ) -> IncidentRecord | None:
        assert self.store is not None
        found = [i for i in IncidentRepository(self.store).list(service=service) if i.provider == provider]
        return found[0] if found else None

    def resolved(self, service: str = OUTAGE_SERVICE, provider: str = OUTAGE_PROVIDER) -> bool:
        incident = self.incident(service, provider)
        return incident is not None and incident.status.value == "resolved"

    def _events(self, types: list[EventType]) -> Iterator[Any]:
        assert self.store is not None
        return _events_of(self.store, types)

    def timings(self, path: str, t0: float, service: str = OUTAGE_SERVICE) -> Timings:
        assert self.store is not None
        out = Timings(path=path, t0=t0)
        incident = self.incident(service)
        if incident is None:
            return out
        out.incident_id, out.source, out.ttr_s = incident.id, incident.source, incident.time_to_recovery_s
        first = incident_report(self.store, incident.id)["first_detector"]
        out.first_detector, out.lead_s = first["source"], first["lead_s"]
        emergency = {d.decision.id for d in self.store.list_decisions(service=service, limit=50)
                     if d.decision.emergency}  # fmt: skip
        for event in self._events([EventType.INCIDENT, EventType.DECISION_STATUS]):
            if event.service != service:
                continue
            at = event.ts.timestamp() - t0
            if event.type == EventType.INCIDENT and event.payload.get("incident_id") == incident.id:
                action = event.payload.get("action")
                if action == "opened" and out.detected_s is None:
                    out.detected_s = at
                elif action == "resolved":
                    out.resolved_s = at
            elif event.decision_id in emergency:
                to = event.payload.get("to")
                if to == "mr_opened" and out.mr_opened_s is None:
                    out.mr_opened_s, out.decision_id = at, event.decision_id
                elif to == "applied":
                    out.applied_s = at
                elif to == "verified":
                    out.verified_s = at
        return out


def _events_of(store: Store, types: list[EventType]) -> Iterator[Any]:
    after = 0
    while page := store.events_after(after, types=types, limit=10_000):
        yield from page
        after = page[-1].id


@contextmanager
def platform(path: str, home: Path) -> Iterator[Harness]:
    with Harness(home, prometheus=path != "engine", engine_detector=path != "prometheus") as harness:
        yield harness


def run_once(path: str, home: Path, *, timeout_s: float = 90.0) -> Timings:
    with platform(path, home) as harness:
        if not harness.pump(harness.quiet, timeout_s=120):
            raise RuntimeError(f"{path}: the platform did not settle within 120 s ({harness.errors})")
        t0 = harness.inject_outage()
        harness.pump(harness.resolved, timeout_s=timeout_s)
        if path == "both":  # give Prometheus time to see it too, so the report can compare
            harness.pump(lambda: _alerted(harness), timeout_s=30)
        timings = harness.timings(path, t0)
        timings.notes.extend(harness.errors)
        return timings


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:6.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", default="engine,prometheus")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    where = f"{OUTAGE_SERVICE} on {OUTAGE_PROVIDER}/{OUTAGE_REGION}"
    print(f"self-healing benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {_load()}; "
          f"outage of {where}; times in s after t0 (injection)")  # fmt: skip
    print(f"{'path':<11}{'run':>4} {'detected':>9}{'MR':>8}{'applied':>8}{'verified':>9}"
          f"{'det->appl':>10}{'TTR':>8}  first seen by")  # fmt: skip
    summary: dict[str, list[Timings]] = {}
    for path in [p.strip() for p in args.paths.split(",") if p.strip()]:
        for run in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="swen-self-heal-") as tmp:
                t = run_once(path, Path(tmp) / "home")
            summary.setdefault(path, []).append(t)
            print(f"{path:<11}{run + 1:>4} {_fmt(t.detected_s):>9}{_fmt(t.mr_opened_s):>8}"
                  f"{_fmt(t.applied_s):>8}{_fmt(t.verified_s):>9}{_fmt(t.detection_to_applied_s):>10}"
                  f"{_fmt(t.ttr_s):>8}  {_first(t)} (load {_load()}){_notes(t)}")  # fmt: skip
    print()
    for path, runs in summary.items():
        det_appl = [t.detection_to_applied_s for t in runs if t.detection_to_applied_s is not None]
        verified = [t.verified_s for t in runs if t.verified_s is not None]
        print(f"{path}: median detection->applied {_median(det_appl)} s, median fault->verified "
              f"{_median(verified)} s over {len(runs)} run(s)")  # fmt: skip
    if "engine" in summary and "prometheus" in summary:
        e = [t.verified_s for t in summary["engine"] if t.verified_s is not None]
        p = [t.verified_s for t in summary["prometheus"] if t.verified_s is not None]
        if e and p:
            ratio = statistics.median(p) / statistics.median(e)
            print(f"fault->verified, prometheus / engine path: {ratio:.2f}x")
    print("goals: detection->applied <= 5 s (engine path); fault->verified <= 20 s (Prometheus path)")


def _alerted(harness: Harness) -> bool:
    assert harness.store is not None
    return any(a.service == OUTAGE_SERVICE for a in IncidentRepository(harness.store).list_alerts())


def _load() -> str:
    return "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def _first(t: Timings) -> str:
    lead = f" by {t.lead_s:.1f} s" if t.lead_s is not None else ""
    return f"{t.first_detector or '-'}{lead}"


def _notes(t: Timings) -> str:
    return "  " + "; ".join(t.notes) if t.notes else ""


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"


if __name__ == "__main__":
    main()
