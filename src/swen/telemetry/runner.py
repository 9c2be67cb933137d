"""The simulator loop: step -> store -> latest_telemetry.json -> TELEMETRY_CYCLE event, every interval.

Simulated time advances exactly ``interval_s`` per cycle (so samples are deterministic under a seed
and a start time); the accelerated clock only decides how long to wait in wall time between cycles
(``interval_s / speed``). With a large speed the loop runs as fast as the store allows: a simulated
month at one sample per hour (``interval_s=3600``) is 720 cycles.
Without an explicit start, simulated time resumes one interval after the newest stored sample (wall
time on an empty store): a restarted accelerated run never goes back behind what the engine has seen.

Before anything is written, the fleet and the scenario file are validated (a bad one raises
ConfigError and nothing is touched). Each cycle reads the applied placements from the store (so the
loop closes) and activates scenarios injected since the last cycle (``scenarios.inject_scenario``).
SIGTERM (in the main thread) or ``stop_event`` stops the loop after the current cycle.
The JSON export is always replaced atomically; it is also fsynced unless the clock is accelerated.

With ``telemetry_source: prometheus`` the same loop reads the team's Prometheus instead
(``run_prometheus``: one ``collect_cycle`` per interval at wall time, ``telemetry/prometheus.py``), so
``swen simulate`` and the telemetry process of ``swen up`` need no other command.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from types import FrameType
from typing import TYPE_CHECKING

from swen.config import Settings
from swen.domain.errors import ConfigError, shown
from swen.domain.events import EventType
from swen.domain.models import Service
from swen.store.credits import CreditBurnRepository
from swen.store.exports import stage_latest_telemetry_batch
from swen.telemetry.catalog import Catalog
from swen.telemetry.clock import SimClock
from swen.telemetry.credit_file import load_credit_ledger
from swen.telemetry.credits import Credits
from swen.telemetry.fleet import load_fleet_file
from swen.telemetry.ledger import published_balances
from swen.telemetry.maintenance_turns import MaintenanceTurns
from swen.telemetry.price_versions import CatalogFollower, peek_catalog
from swen.telemetry.scenarios import Scenario, ScenarioInbox, load_scenario_file
from swen.telemetry.simulator import Simulator

if TYPE_CHECKING:
    from swen.store.repository import Store

_log = logging.getLogger(__name__)


@dataclass
class SimulatorRun:
    """What a run did (returned when it stops)."""

    steps: int = 0
    samples: int = 0
    purged: int = 0
    first_sim_time: datetime | None = None
    last_sim_time: datetime | None = None


def run_simulator(
    settings: Settings,
    store: Store,
    *,
    once: bool = False,
    seed: int | None = None,
    speed: float | None = None,
    stop_event: threading.Event | None = None,
    start: datetime | None = None,
    interval_s: float | None = None,
    max_steps: int | None = None,
    services: Sequence[Service] | None = None,
    credits: Credits | None = None,
    scenarios: Sequence[Scenario] = (),
    catalog: Catalog | None = None,
) -> SimulatorRun:
    """Run the simulator until ``stop_event``/SIGTERM, ``max_steps`` cycles, or one cycle if ``once``.

    Defaults come from ``settings`` (seed, sim_speed, sim_interval_s, fleet_file, scenario_file).
    Without ``start`` the clock resumes one interval after the newest stored sample (``resume_time``).
    ``services`` override the fleet file; ``scenarios`` are activated at the start. Without
    ``credits`` the samples carry the live credit ledger's balances (the store's, burnt by the
    engine: ``telemetry/ledger.py``); with them the simulator burns its own book (tests, benches).
    """
    if settings.telemetry_source == "prometheus":
        return run_prometheus(settings, store, once=once, stop_event=stop_event, max_steps=max_steps)
    pinned = catalog
    catalog = catalog or peek_catalog(store)  # files are checked before anything is written
    if services is None:
        services = load_fleet_file(settings.fleet_file, catalog).services
    ledger = load_credit_ledger(settings.credits_file) if credits is None else None
    file_scenarios = load_scenario_file(settings.scenario_file, catalog) if settings.scenario_file else []
    _check_scenario_services(file_scenarios, services, str(settings.scenario_file))
    # prices: the store's active catalog version, followed every cycle (a pinned catalog: none)
    prices: CatalogFollower | None = None
    if pinned is None:
        prices = CatalogFollower(store)
        catalog = prices.catalog
    interval = float(interval_s or settings.sim_interval_s)
    start_time = (start or resume_time(store, interval)).astimezone(UTC)
    clock = SimClock(start_time, speed if speed is not None else settings.sim_speed)
    stop = stop_event or threading.Event()

    sim = Simulator(
        services, catalog, settings.seed if seed is None else seed, start_time, interval, credits=credits
    )
    for scenario in [*file_scenarios, *scenarios]:
        sim.activate(scenario, at=start_time)
    store.upsert_services(list(services))  # a new service runs where its fleet file says until a
    # move is applied (the engine records that first placement: only swen.moves writes placements)

    inbox = ScenarioInbox(store, catalog)
    run = SimulatorRun(first_sim_time=start_time)
    recorded_expiries = 0
    durable = clock.speed <= 1
    with (
        _SigtermSetsEvent(stop),
        ThreadPoolExecutor(1, thread_name_prefix="telemetry-export") as exporter,
        MaintenanceTurns(store, settings, background=durable) as maintenance,
    ):
        while not stop.is_set():
            now = start_time + timedelta(seconds=interval * run.steps)
            maintenance.due(now)
            if ledger is not None:
                sim.publish_credits(
                    published_balances(CreditBurnRepository(store), ledger, settings.credits_interval_s, now)
                )
            repriced = None if prices is None else prices.poll()
            if repriced is not None:
                sim.reprice(repriced)
            run.samples += _cycle(settings, store, sim, now, inbox, durable=durable, exporter=exporter)
            for provider, at in sim.credit_expiries[recorded_expiries:]:  # the engine's ledger applies them
                CreditBurnRepository(store).record_expiry(provider, at)
            recorded_expiries = len(sim.credit_expiries)
            run.steps += 1
            run.last_sim_time = now
            if once or (max_steps is not None and run.steps >= max_steps):
                break
            stop.wait(clock.wall_seconds_until(now + timedelta(seconds=interval)))
    run.purged = maintenance.deleted_rows
    return run


def run_prometheus(
    settings: Settings,
    store: Store,
    *,
    once: bool = False,
    stop_event: threading.Event | None = None,
    max_steps: int | None = None,
) -> SimulatorRun:
    """Collect from Prometheus every ``sim_interval_s`` wall seconds (real time: no simulated clock)."""
    from swen.telemetry.prometheus import PrometheusSource
    from swen.telemetry.source import collect_cycle

    services = load_fleet_file(settings.fleet_file).services
    store.upsert_services(list(services))
    source = PrometheusSource(settings.prometheus, services)
    stop = stop_event or threading.Event()
    run = SimulatorRun()
    try:
        with _SigtermSetsEvent(stop), MaintenanceTurns(store, settings, background=True) as maintenance:
            while not stop.is_set():
                now = datetime.now(UTC).replace(microsecond=0)
                run.first_sim_time = run.first_sim_time or now
                maintenance.due(now)
                run.samples += len(collect_cycle(settings, store, source, now))
                if source.incomplete or source.skipped:
                    _log.warning(
                        "prometheus: %d incomplete group(s) left out; %s",
                        source.incomplete,
                        "; ".join(source.skipped[:3]) or "no series skipped",
                    )
                run.steps += 1
                run.last_sim_time = now
                if once or (max_steps is not None and run.steps >= max_steps):
                    break
                stop.wait(settings.sim_interval_s)
        run.purged = maintenance.deleted_rows
    finally:
        source.close()
    return run


def resume_time(store: Store, interval_s: float) -> datetime:
    """Where the simulated clock starts without an explicit ``start``: one interval after the newest
    stored sample, so simulated time never goes backwards across restarts (an accelerated run gets
    ahead of wall time, and the engine takes the newest stored sample as "now"); wall time on an
    empty store."""
    newest = store.newest_sample_time()  # one max(), not every latest sample (110,000 at 10,000 services)
    if newest is None:
        return datetime.now(UTC).replace(microsecond=0)
    return newest + timedelta(seconds=interval_s)


def _cycle(
    settings: Settings,
    store: Store,
    sim: Simulator,
    now: datetime,
    inbox: ScenarioInbox,
    *,
    durable: bool,
    exporter: Executor | None = None,
) -> int:
    """One tick as columns (``SampleBatch``): generated, stored, exported, announced.

    Where services run: the simulator's own fleet (the services it samples; the runner upserted them at
    the start) overlaid with the applied placements. Reading every stored service back each tick cost
    0.4-0.6 CPU s at 10,000 services, and only the simulator's own services have samples.

    With an ``exporter`` (the runner's one thread) latest_telemetry.json is serialised and written to
    its temporary file while the insert runs (the insert mostly waits for the database), and renamed
    into place only once the insert committed; a failed insert discards it."""
    placements = {s.name: s.fleet_placement for s in sim.services} | store.get_placements()
    for scenario in inbox.poll():
        _log.info("scenario activated: %s", scenario.describe())
        sim.activate(scenario)
    sim.set_placements(placements)
    batch = sim.step_batch(now)
    stage = partial(
        stage_latest_telemetry_batch,
        settings.latest_telemetry_path, batch, now, placements=placements, fsync=durable,
    )  # fmt: skip
    staged = exporter.submit(stage) if exporter is not None else None
    try:
        store.insert_sample_batch(batch)
    except BaseException:
        if staged is not None:
            with suppress(BaseException):
                staged.result().discard()
        raise
    (stage() if staged is None else staged.result()).publish()
    live = [a.scenario.describe() for a in sim.active if a.starts_at <= (now - sim.start).total_seconds()]
    store.append_event(
        EventType.TELEMETRY_CYCLE,
        {"count": len(batch), "sim_time": now.isoformat(), "active_scenarios": live},
    )
    return len(batch)


class _SigtermSetsEvent:
    """Within the block, SIGTERM sets ``event`` (only in the main thread; elsewhere a no-op)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event
        self.previous: object = None
        self.installed = False

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._handle)
            self.installed = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.event.set()

    def __exit__(self, *_exc: object) -> None:
        if self.installed:
            signal.signal(signal.SIGTERM, self.previous)  # type: ignore[arg-type]


def _check_scenario_services(scenarios: Sequence[Scenario], services: Sequence[Service], label: str) -> None:
    """A scenario naming a service outside the fleet would hit nothing: ConfigError naming it."""
    names = [s.name for s in services]
    for i, scenario in enumerate(scenarios):
        if scenario.service is not None and scenario.service not in names:
            raise ConfigError(
                f"scenarios[{i}].service: unknown service {shown(scenario.service)}: the fleet has "
                f"{', '.join(names[:5])}{f' and {len(names) - 5} more' if len(names) > 5 else ''}",
                hint="use a service of the fleet file (see `swen services`)",
                source=label,
            )
