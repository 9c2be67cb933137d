"""Run a backtest: build the trace once, replay the strategies on it, account for each.

Strategies: static (never move), the platform (engine + gate + lifecycle), and two references: the
hindsight oracle (an exact DP that knows the whole trace, noise included) and the scheduled-events
reference (the same DP planned on the trace the simulator gives without its noise, which holds the
scenario's scheduled events and nothing else, then paid on the real trace). The gap between the two
references is what hindsight on noise is worth.

``run_backtest(config)`` is the whole thing; ``prepare`` + ``replay_platform`` let a sweep reuse one
trace and its references for many engine settings.

The engine amortises a move's one-time cost over ``amortisation_months``; a replay sets it to the
replay's own horizon (``days / 30.44``) unless ``BacktestConfig.amortisation_months`` says otherwise,
so a 30-day replay does not count on six months of savings it never pays out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from swen.backtest.accounting import Outcome, account
from swen.backtest.calibration import replay_calibration
from swen.backtest.oracle import oracle_path
from swen.backtest.spec import BacktestSpec, expand_scenarios, load_services, load_spec
from swen.backtest.strategies import Lifecycle, PlatformReplay, PolicyTally, static_path
from swen.backtest.trace import Floors, Grid, Progress, Trace, build_grid, build_trace
from swen.domain.models import Service
from swen.domain.providers import PROVIDERS
from swen.engine.calibration import table_from_dict
from swen.engine.params import EngineParams
from swen.pipeline.policy import PolicyGate
from swen.telemetry.calibration import load_calibration_data
from swen.telemetry.catalog import Catalog, load_catalog

DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)
"""A Monday, 00:00 UTC: every replay starts here so that the same seed gives the same trace."""
DEFAULT_STEP_S = 300.0
DAYS_PER_MONTH = 365.25 / 12

ProgressFactory = Callable[[str, int], Progress]
"""(what, total units) -> a callback advancing that task."""


def no_progress(_what: str, _total: int) -> Progress:
    return lambda _n: None


@dataclass(frozen=True)
class BacktestConfig:
    spec: BacktestSpec
    days: float
    seed: int
    services: int | None = None
    """Scale the fleet to this many services (None: the fleet as it is)."""
    step_s: float = DEFAULT_STEP_S
    params: EngineParams = field(default_factory=EngineParams)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    start: datetime = DEFAULT_START
    amortisation_months: float | None = None
    """The engine's amortisation period in the replay; None: the replay's horizon (days / 30.44)."""

    @property
    def horizon_months(self) -> float:
        return self.amortisation_months or self.days / DAYS_PER_MONTH

    def engine_params(self, params: EngineParams | None = None) -> EngineParams:
        """``params`` (default: the config's) with the replay's amortisation period and the scenario's
        migration-cost model (the one the bill charges)."""
        return (params or self.params).model_copy(
            update={"amortisation_months": self.horizon_months, "migration": self.spec.migration}
        )

    @property
    def floors(self) -> Floors:
        return Floors(self.params.availability_floor, self.params.gpu_availability_floor)

    @property
    def detection_steps(self) -> int:
        return detection_steps(self.params, self.lifecycle)


def detection_steps(params: EngineParams, lifecycle: Lifecycle) -> int:
    """Steps the platform needs to notice a lasting problem and act: the engine's stability window
    plus the pipeline delay."""
    return params.stability_window + lifecycle.pipeline_delay_steps


@dataclass(frozen=True, eq=False)
class Prepared:
    """The trace and the two reference strategies, shared by every platform replay."""

    config: BacktestConfig
    catalog: Catalog
    services: tuple[Service, ...]
    trace: Trace
    grid: Grid
    static: Outcome
    oracle: Outcome
    scheduled: Outcome
    """The scheduled-events reference (module docstring)."""
    timings: dict[str, float]


@dataclass(frozen=True, eq=False)
class BacktestResult:
    config: BacktestConfig
    params: EngineParams
    prepared: Prepared
    platform: Outcome
    policy: PolicyTally
    timings: dict[str, float]
    lifecycle: Lifecycle
    """The lifecycle this platform replay used (the config's unless ``replay_platform`` got another)."""
    calibration: dict[str, Any] | None = None
    """Reliability of the replay's confidence (``backtest.calibration.replay_calibration``)."""

    @property
    def static(self) -> Outcome:
        return self.prepared.static

    @property
    def oracle(self) -> Outcome:
        return self.prepared.oracle

    @property
    def scheduled(self) -> Outcome:
        return self.prepared.scheduled

    @property
    def trace(self) -> Trace:
        return self.prepared.trace

    @property
    def grid(self) -> Grid:
        return self.prepared.grid

    @property
    def captured_savings(self) -> float | None:
        return captured(self.static.total_usd, self.platform.total_usd, self.oracle.total_usd)

    @property
    def captured_vs_scheduled(self) -> float | None:
        """Captured savings against the scheduled-events reference (no hindsight on noise)."""
        return captured(self.static.total_usd, self.platform.total_usd, self.scheduled.total_usd)

    @property
    def outage_avoided(self) -> float | None:
        """Share of the avoidable outage minutes the platform avoided:
        (static - platform) / (static - oracle) over outage minutes (None when none were avoidable)."""
        return captured(
            float(self.static.outage_minutes.sum()),
            float(self.platform.outage_minutes.sum()),
            float(self.oracle.outage_minutes.sum()),
        )


def captured(static_usd: float, platform_usd: float, oracle_usd: float) -> float | None:
    """``(static - platform) / (static - oracle)``; None when the oracle saves nothing over static."""
    room = static_usd - oracle_usd
    if not room > 1e-9:
        return None
    return (static_usd - platform_usd) / room


def prepare(
    config: BacktestConfig, *, catalog: Catalog | None = None, progress: ProgressFactory = no_progress
) -> Prepared:
    catalog = catalog or load_catalog()
    fleet, credits = load_services(config.spec, services=config.services, seed=config.seed, catalog=catalog)
    services = fleet.services
    scenarios = expand_scenarios(config.spec.scenarios, services)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    steps = round(config.days * 86400.0 / config.step_s)

    def trace_of(noise: bool, what: str) -> Trace:
        return build_trace(
            services,
            catalog,
            seed=config.seed,
            start=config.start,
            days=config.days,
            step_s=config.step_s,
            credits=credits,
            scenarios=scenarios,
            progress=progress(what, steps),
            prices=fleet.prices,
            noise=noise,
        )

    # the scheduled-events reference plans on the noiseless trace first, so that only one trace is
    # held at a time (its path is kept, the trace dropped)
    expected = trace_of(False, "scheduled events (simulator, no noise)")
    grid = build_grid(
        expected, catalog, migration=config.spec.migration, undeployable=set(PROVIDERS.undeployable())
    )
    floors, detect = config.floors, config.detection_steps
    planned = oracle_path(expected, grid, floors, progress=progress("scheduled-events DP", len(services)))
    del expected
    timings["scheduled_s"] = time.perf_counter() - started
    started = time.perf_counter()
    trace = trace_of(True, "trace (simulator)")
    timings["trace_s"] = time.perf_counter() - started
    started = time.perf_counter()
    static = account("static", trace, grid, static_path(trace, grid), floors, detect)
    oracle_steps = oracle_path(trace, grid, floors, progress=progress("oracle (DP)", len(services)))
    oracle = account("oracle", trace, grid, oracle_steps, floors, detect)
    del oracle_steps
    scheduled = account("scheduled", trace, grid, planned, floors, detect)
    timings["oracle_s"] = time.perf_counter() - started
    return Prepared(config, catalog, tuple(services), trace, grid, static, oracle, scheduled, timings)


def platform_replay(
    prepared: Prepared,
    *,
    params: EngineParams | None = None,
    lifecycle: Lifecycle | None = None,
    gate: PolicyGate | None = None,
) -> PlatformReplay:
    """The platform's replay of ``prepared``'s trace, not yet run, with the config's engine settings
    (or ``params``), lifecycle and floors: what :func:`replay_platform` runs, for reading aids that
    step it themselves (scripts/gate_hindsight.py, scripts/scheduled_gap.py)."""
    config = prepared.config
    return PlatformReplay(
        prepared.trace,
        prepared.grid,
        prepared.catalog,
        params=config.engine_params(params),
        lifecycle=lifecycle or config.lifecycle,
        floors=config.floors,
        gate=gate or PolicyGate(),
    )


def scored_config(scenario: str, *, days: float, services: int) -> BacktestConfig:
    """A scenario's replay as ``swen backtest --scenario S`` scores it with the default settings: its
    own seed, and the packaged calibration fold that never saw it (when a table is packaged)."""
    spec = load_spec(scenario)
    params = EngineParams()
    data = load_calibration_data()
    if data is not None:
        params = params.model_copy(update={"calibration": table_from_dict(data).for_scenario(spec.name)})
    return BacktestConfig(spec=spec, days=days, seed=spec.seed, services=services, params=params)


def replay_platform(
    prepared: Prepared,
    *,
    params: EngineParams | None = None,
    lifecycle: Lifecycle | None = None,
    gate: PolicyGate | None = None,
    progress: ProgressFactory = no_progress,
) -> BacktestResult:
    config = prepared.config
    params = config.engine_params(params)
    lifecycle = lifecycle or config.lifecycle
    started = time.perf_counter()
    replay = platform_replay(prepared, params=params, lifecycle=lifecycle, gate=gate)
    path = replay.run(progress=progress("platform (engine + gate)", prepared.trace.steps))
    platform = account(
        "platform", prepared.trace, prepared.grid, path, config.floors, detection_steps(params, lifecycle)
    )
    timings = {**prepared.timings, "platform_s": time.perf_counter() - started}
    fold = params.calibration
    reliability = replay_calibration(
        prepared.trace,
        prepared.grid,
        replay.journal,
        path,
        fitted_on=None if fold is None else fold.fitted_on,
    )
    return BacktestResult(config, params, prepared, platform, replay.tally, timings, lifecycle, reliability)


def run_backtest(
    config: BacktestConfig, *, catalog: Catalog | None = None, progress: ProgressFactory = no_progress
) -> BacktestResult:
    prepared = prepare(config, catalog=catalog, progress=progress)
    return replay_platform(prepared, progress=progress)
