"""Core commands: up, simulate, engine, scenario, services, decisions, explain, audit."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from swen import __version__
from swen.cli.help import SwenTyper, enum_parser
from swen.cli.state import known_service, open_store, state_settings
from swen.cli.text import install_safe_log_records, one_line, plain
from swen.config import Settings
from swen.domain.decision import Decision, DecisionStatus
from swen.domain.errors import InvalidInputError, NotFoundError, SwenError
from swen.domain.providers import PROVIDERS
from swen.instance import claimed
from swen.moves.running import RunningService, running_services
from swen.store.repository import Store
from swen.telemetry.scenarios import ScenarioKind

console = Console()
scenario_app = SwenTyper(help="Inject failure and price scenarios into the running simulator.")
audit_app = SwenTyper(help="The append-only, hash-chained audit log.")


def _logging(settings: Settings) -> None:
    install_safe_log_records()
    logging.basicConfig(
        level=logging.DEBUG if settings.debug else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if not settings.debug:  # "Context impl SQLiteImpl." at every start says nothing to an operator
        logging.getLogger("alembic").setLevel(logging.WARNING)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(version)
    app.command()(up)
    app.command()(simulate)
    app.command()(engine)
    app.command()(services)
    app.command()(decisions)
    app.command()(explain)
    app.add_typer(scenario_app, name="scenario")
    app.add_typer(audit_app, name="audit")


def version() -> None:
    """Print the SWEN version."""
    typer.echo(__version__)


def up(
    dashboard: Annotated[bool, typer.Option(help="Also start the Streamlit dashboard.")] = True,
    api: Annotated[bool, typer.Option(help="Also start the API.")] = True,
    production: Annotated[
        bool,
        typer.Option(
            "--production",
            help="Rehearse the production topology on this machine: PostgreSQL, 3 API replicas behind "
            "haproxy, 2 engines, simulator, dashboard, Prometheus, Alertmanager (see the README).",
        ),
    ] = False,
) -> None:
    """Run the whole platform (init if needed, simulator, engine loop, API, dashboard) until Ctrl-C.

    Prints what the platform does as it happens (decisions, merge requests, gate verdicts, approvals,
    applies, verifications, failures, incidents, automation switches). One `swen up` per SWEN_HOME."""
    from swen.cli.gitops_cmds import _init as init_platform
    from swen.instance import ROLES, claim
    from swen.supervisor import Component, Supervisor, swen_command

    settings = state_settings()
    if production:
        from swen.cli.rehearsal_cmd import rehearse

        if not api:
            raise InvalidInputError(
                "--production always runs the API replicas", hint="leave out --no-api, or --production"
            )

        raise typer.Exit(rehearse(settings, dashboard=dashboard, event_printer=_event_printer))
    held = claim(settings.home, ROLES)  # at once: a second platform on this state stops here
    try:
        init_platform(force=False)
        fds = tuple(held.fds)  # the simulator and the engine run under these locks
        components = [
            Component("simulator", swen_command("simulate"), pass_fds=fds),
            Component("engine", swen_command("engine"), pass_fds=fds),
        ]
        if api:
            components.append(Component("api", swen_command("api")))
        if dashboard:
            components.append(Component("dashboard", swen_command("dashboard")))
        console.print(
            f"SWEN up: state in {plain(settings.home.resolve())}; API {plain(settings.resolved_api_url)}; "
            f"dashboard http://{plain(settings.dashboard_host)}:{settings.dashboard_port}. "
            "Ctrl-C stops everything.",
            soft_wrap=True,
        )
        supervisor = Supervisor(
            components,
            env={"SWEN_HOME": str(settings.home.resolve())},  # every process on the same state
            log=lambda line: console.print(f"[dim]swen up:[/] {plain(line)}", soft_wrap=True),
        )
        with open_store(settings) as store:
            code = supervisor.run(tick=_event_printer(store))
    finally:
        held.release()
    raise typer.Exit(code)


def _event_printer(store: Store) -> Callable[[], None]:
    """A callable that prints a line for each platform event since the last call (see platform_log)."""
    from swen.observability.platform_log import EventTail

    tail = EventTail(store)
    failing: list[str] = []

    def follow() -> None:
        try:
            lines = tail.poll()
        except SwenError as exc:  # a busy or unreachable database: say so once, keep supervising
            if plain(exc) not in failing:
                failing[:] = [plain(exc)]
                console.print(f"[yellow]swen up: cannot read the audit log: {plain(exc)}[/]", soft_wrap=True)
            return
        failing.clear()
        for line in lines:  # one line per event, whatever a reason holds
            console.print(one_line(line), soft_wrap=True, highlight=False)

    return follow


def simulate(
    once: Annotated[bool, typer.Option(help="Emit one telemetry cycle and exit.")] = False,
    seed: Annotated[int | None, typer.Option(help="Random seed (deterministic output).")] = None,
    speed: Annotated[float | None, typer.Option(help="Simulated seconds per wall second.")] = None,
    steps: Annotated[int | None, typer.Option(min=1, help="Stop after this many cycles.")] = None,
    scenario_file: Annotated[Path | None, typer.Option("--scenario", help="Scenario YAML to play.")] = None,
) -> None:
    """Run the telemetry simulator (one sample per service and candidate every SWEN_SIM_INTERVAL_S)."""
    from swen.telemetry.runner import run_simulator

    settings = state_settings(scenario_file=scenario_file)
    _logging(settings)
    with claimed(settings.home, ["simulator"]), open_store(settings, create=True) as store:
        run = run_simulator(settings, store, once=once, seed=seed, speed=speed, max_steps=steps)
    console.print(
        f"simulator: {run.steps} cycle(s), {run.samples} samples, last simulated time {run.last_sim_time}; "
        f"wrote {settings.latest_telemetry_path}",
        soft_wrap=True,
    )


def engine(
    once: Annotated[bool, typer.Option(help="Run one engine cycle and exit.")] = False,
    act: Annotated[
        bool, typer.Option(help="Open merge requests and run pipelines for recommendations.")
    ] = True,
) -> None:
    """Run the decision engine loop (scores, decides, explains, acts, verifies)."""
    from swen.leadership import Leadership
    from swen.loop import EngineLoop, gitops_actuator

    settings = state_settings()
    _logging(settings)
    # Replicas sharing a database elect a leader (swen.leadership); alone, the per-home lock holds.
    guard = contextlib.nullcontext() if settings.elects_leader else claimed(settings.home, ["engine"])
    with guard, open_store(settings, create=True) as store:
        actuator = gitops_actuator(settings, store) if act else None
        if act and actuator is None:
            console.print("[yellow]no infra repository yet (`swen init`): advising only, not acting[/]")
        leadership, old_term = None, None
        if settings.elects_leader:
            # SIGTERM (swen up, Kubernetes) stops like Ctrl-C, so the lease is released below and a
            # standby takes over at once instead of after the lease runs out
            old_term = signal.signal(signal.SIGTERM, _interrupt)
            leadership = Leadership(store, lease_s=settings.leader_lease_s).start()
        loop = EngineLoop(settings, store, actuator=actuator, leadership=leadership)
        try:
            report = loop.run(once=once)
        finally:
            if leadership is not None:
                leadership.stop()
                signal.signal(signal.SIGTERM, old_term)
    if once:
        console.print(
            f"engine: {report.services} services, {report.ticks} new telemetry tick(s), "
            f"{len(report.recommendations)} new recommendation(s), {len(report.proposed_mrs)} MR(s), "
            f"{len(report.verified)} verified, {len(report.failed)} failed"
            + (f"; {plain(report.note)}" if report.note else "")
        )
        for error in report.errors:
            console.print(f"[red]error:[/] {plain(error)}")
        if not report.stood_by:
            console.print(f"wrote {settings.decisions_path}")


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def services() -> None:
    """List services with where each runs now (applied placement, else the fleet file's) and its cost."""
    settings = state_settings()
    with open_store(settings) as store:
        items = store.list_services()
        running = running_services(store, services=items)
    table = Table("service", "placement", "replicas", "$/month", "shape", "stateful", "SLO ms", "users in")
    for s in items:
        gpu = f" + {s.shape.gpu_count}x {s.shape.gpu_model}" if s.shape.gpu_model else ""
        table.add_row(
            plain(s.name),
            _placement_cell(running[s.name]),
            str(running[s.name].replicas),
            _monthly_cost_cell(running[s.name]),
            plain(f"{s.shape.vcpus} vCPU / {s.shape.memory_gib:g} GiB{gpu}"),
            "yes" if s.stateful else "no",
            f"{s.latency_slo_ms:g}",
            plain(s.users_region.key),
        )
    console.print(table if items else "no services yet: run `swen simulate --once` or `swen up`")


def _placement_cell(running: RunningService) -> str:
    return running.placement.key + (" (fleet file)" if running.source == "fleet file" else "")


def _monthly_cost_cell(running: RunningService) -> str:
    """The whole service's monthly cost (x replicas); '-' while its placement has no sample."""
    if running.monthly_cost_usd is None:
        return "-"
    return f"{running.monthly_cost_usd:,.0f}" + (" [yellow]SIMULATED[/]" if running.simulated_price else "")


def decisions(
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    status: Annotated[DecisionStatus | None, typer.Option(help="Only this lifecycle status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Recent decisions with their lifecycle status and explanation."""
    settings = state_settings()
    with open_store(settings) as store:
        if service is not None:
            known_service(store, service)
        rows = store.list_decisions(service=service, status=status, limit=limit)
    if as_json:
        data = [{"status": r.status.value, **r.decision.model_dump(mode="json")} for r in rows]
        typer.echo(json.dumps(data, indent=2))
        return
    if not rows:
        console.print("no decisions yet: the engine recommends once a move clears its thresholds")
        return
    table = Table("id", "created (sim)", "status", "move", "conf.", "net $/mo", "explanation")
    for r in rows:
        d = r.decision
        table.add_row(
            plain(d.id),
            d.created_at.strftime("%m-%d %H:%M"),
            r.status.value,
            plain(f"{d.current.key} -> {d.target.key}") + (" [red](emergency)[/]" if d.emergency else ""),
            f"{d.confidence.value:.2f}",
            f"{d.savings.net_monthly_usd:,.0f}",
            plain(d.explanation),
        )
    console.print(table)


def explain(
    service: Annotated[str, typer.Argument(help="Service name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Full ranking of SERVICE's candidates with factor contributions, exclusions and why."""
    from swen.domain.names import validate_service_name
    from swen.loop import EngineLoop

    validate_service_name(service)
    settings = state_settings()
    with open_store(settings) as store:
        known_service(store, service)
        result = EngineLoop(settings, store).dry_run()
    if result is None:
        raise NotFoundError(
            f"no telemetry for {service!r} yet", hint="run `swen simulate --once` (or `swen up`) first"
        )
    decision = result.decision(service)
    if as_json:
        typer.echo(decision.model_dump_json(indent=2))
        return
    render_decision(decision)


def render_decision(d: Decision) -> None:
    """Rich rendering of one decision: ranking, factor contributions, exclusions, confidence, savings."""
    w = d.weights
    table = Table(
        "#",
        "candidate",
        "total",
        f"cost x{w.cost:g}",
        f"latency x{w.latency:g}",
        f"credits x{w.credits:g}",
        f"avail. x{w.availability:g}",
        "$/month",
        "p95 ms",
        "credits $",
        "avail.",
        "GPU avail.",
        "instance",
        title=f"{d.service}: candidates ranked (contribution = weight x factor score)",
    )
    for s in d.ranking:
        marks = []
        if s.is_current:
            marks.append("current")
        if s.placement == d.target and d.action == "migrate":
            marks.append("chosen")
        label = plain(s.placement.key + (f" ({', '.join(marks)})" if marks else ""))
        price_note = " [yellow]SIMULATED[/]" if s.simulated_price else ""
        c = s.contributions
        table.add_row(
            str(s.rank),
            label,
            f"{s.total:.3f}",
            f"{c.cost:.3f}",
            f"{c.latency:.3f}",
            f"{c.credits:.3f}",
            f"{c.availability:.3f}",
            f"{s.monthly_cost_usd:,.0f}{price_note}",
            f"{s.latency_ms:.0f}",
            f"{s.credits_usd:,.0f}",
            f"{s.availability:.3f}",
            f"{s.gpu_availability:.2f}",
            plain(s.instance_type),
        )
    console.print(table)
    if d.excluded:
        excluded = Table("candidate", "why not", title="excluded candidates")
        for e in d.excluded:
            excluded.add_row(plain(e.placement.key), plain("; ".join(e.reasons)))
        console.print(excluded)
    conf, sv = d.confidence, d.savings
    raw = "n/a" if conf.raw is None else f"{conf.raw:.2f}"
    meaning = (
        f"calibrated on replays: {conf.value * 100:.0f} % of comparable moves paid back"
        if conf.calibrated
        else "uncalibrated"
    )
    evidence = "n/a" if conf.evidence is None else f"{conf.evidence:.1f}"
    gpu = "n/a" if conf.gpu_capacity is None else f"{conf.gpu_capacity:.2f}"
    console.print(
        f"confidence {conf.value:.2f} ({meaning}) from raw {raw} = Phi(evidence z {evidence} / 2) "
        f"x P(advantage outlasts payback) x GPU capacity {gpu} x freshness {conf.freshness:.2f}; "
        f"margin {conf.margin:+.3f}, same winner {conf.stability_cycles} of {conf.stability_window} cycles"
    )
    if d.forecast is not None:
        from swen.engine.explain import forecast_phrase, signed_usd

        f = d.forecast
        payback = "never" if f.payback_days is None else f"{f.payback_days:.1f} days"
        console.print(
            f"forecast: {forecast_phrase(f)}; payback {payback}; "
            f"{signed_usd(f.horizon_net_usd)} net over that horizon"
        )
    console.print(
        f"savings: ${sv.current_monthly_usd:,.0f} -> ${sv.target_monthly_usd:,.0f}/month "
        f"({sv.cost_delta_pct:+.1f} %), credits offset ${sv.credits_offset_monthly_usd:,.0f}/month, "
        f"migration ${sv.migration_cost_usd:,.0f} over {sv.amortisation_months:g} months "
        f"-> net ${sv.net_monthly_usd:,.0f}/month"
    )
    if d.catalog_version is not None:
        console.print(
            f"prices: catalog version {d.catalog_version} (`swen catalog show {d.catalog_version}`)"
        )
    if any(PROVIDERS.get(s.placement.provider).simulated_prices for s in d.ranking):
        console.print(
            "[yellow]Alibaba Cloud prices are SIMULATED (AWS list prices x the Alibaba/AWS ratio of "
            "real 2019 list prices).[/]"
        )
    console.print(f"[bold]{d.action.value.upper()}[/]: {plain(d.explanation)}")
    for reason in d.reasons:
        console.print(f"  - {plain(reason)}")


@scenario_app.command("inject")
def scenario_inject(
    kind: Annotated[
        ScenarioKind,
        typer.Argument(parser=enum_parser(ScenarioKind, "scenario kind"), help="What goes wrong."),
    ],
    provider: Annotated[str, typer.Option(help="Provider hit by the scenario.")],
    region: Annotated[str | None, typer.Option(help="Region (default: every region).")] = None,
    service: Annotated[str | None, typer.Option(help="Service (default: every service).")] = None,
    magnitude: Annotated[float | None, typer.Option(help="Multiplier for spikes.")] = None,
    duration: Annotated[float, typer.Option(help="Duration in simulated seconds.")] = 900.0,
) -> None:
    """Inject a scenario into the running simulator (through the store's event log)."""
    from swen.telemetry.scenarios import inject_scenario, parse_scenario

    data: dict[str, object] = {"kind": kind.value, "provider": provider, "duration_s": duration}
    for key, value in (("region", region), ("service", service), ("magnitude", magnitude)):
        if value is not None:
            data[key] = value
    scenario = parse_scenario(data, label="command line")
    settings = state_settings()
    with open_store(settings) as store:
        if scenario.service is not None:
            known_service(store, scenario.service)
        event = inject_scenario(store, scenario)
    console.print(
        f"injected {plain(scenario.describe())} (event {event.id}); the simulator applies it next cycle"
    )


@scenario_app.command("load")
def scenario_load(path: Annotated[Path, typer.Argument(help="Scenario YAML file.")]) -> None:
    """Validate a scenario file and inject every scenario in it into the running simulator."""
    from swen.telemetry.scenarios import inject_scenario, load_scenario_file

    items = load_scenario_file(path)
    settings = state_settings()
    with open_store(settings) as store:
        for i, scenario in enumerate(items):  # every name checked before the first is injected
            if scenario.service is not None:
                known_service(store, scenario.service, where=f"{path}: scenarios[{i}].service")
        for scenario in items:
            inject_scenario(store, scenario)
    console.print(f"injected {len(items)} scenario(s) from {plain(path)}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Walk the audit log's hash chain; exit 1 when a row was changed or deleted."""
    settings = state_settings()
    with open_store(settings) as store:
        report = store.verify_audit()
    if report.ok:
        console.print(f"[green]audit log intact[/]: {report.checked} events checked")
        return
    console.print(
        f"[bold red]audit log tampered[/]: first bad event {report.first_bad_id}: {plain(report.problem)} "
        f"({report.checked} events checked)"
    )
    raise typer.Exit(1)
