"""``swen backtest``: replay a scenario through the real engine, policy gate and lifecycle."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from swen.backtest.lifecycle import MANUAL_OUTCOMES, ManualOutcome
from swen.cli.help import choices
from swen.domain.errors import ConfigError, shown
from swen.domain.models import FACTORS, Weights

if TYPE_CHECKING:
    from swen.backtest.runner import BacktestConfig, BacktestResult, ProgressFactory
    from swen.backtest.trace import Progress as StepProgress

console = Console()
err_console = Console(stderr=True)
SWEEP_CHOICES = ("weights", "thresholds")
"""--sweep's values: swen.backtest.sweep.SWEEP_KINDS, which is imported only for a sweep (it loads the
whole backtest runner)."""
SUITE_ALL = "all"
"""``--scenario all``: every packaged scenario, as a suite."""
MAX_JOBS = 64
"""--jobs above this is refused as a typo: each job holds a whole replay in memory."""


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(backtest)


def parse_weights(text: str) -> Weights:
    """``cost=0.5,latency=0.2,credits=0.15,availability=0.15`` (missing factors keep their default)."""
    values: dict[str, float] = {}
    for part in text.split(","):
        key, sep, raw = part.strip().partition("=")
        if not sep or key not in FACTORS:
            raise ConfigError(
                f"bad weight {part.strip()!r}",
                hint=f"write factor=value pairs separated by commas; factors: {', '.join(FACTORS)}",
                source="--weights",
            )
        try:
            values[key] = float(raw)
        except ValueError:
            raise ConfigError(
                f"{key}: {raw!r} is not a number", hint="e.g. cost=0.5", source="--weights"
            ) from None
    try:
        return Weights(**values)
    except ValidationError as exc:
        msg = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise ConfigError(
            msg, hint="the four weights must each be in [0, 1] and sum to 1", source="--weights"
        ) from None


@contextmanager
def _progress(enabled: bool) -> Iterator[ProgressFactory]:
    if not enabled:
        from swen.backtest.runner import no_progress

        yield no_progress
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )

    def factory(what: str, total: int) -> StepProgress:
        task = bar.add_task(what, total=total)
        return lambda n: bar.advance(task, n)

    with bar:
        yield factory


def backtest(
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            help="Backtest YAML file, or a packaged one (calm-month, price-war, gpu-scarcity, "
            "provider-outages, price-duel, gpu-squeeze, noisy-flat); 'all' or a comma-separated list "
            "runs a suite: each scenario, then the confidence's calibration pooled over all of them.",
        ),
    ],
    days: Annotated[
        float | None, typer.Option(min=0.05, max=366, help="Days to replay (default: the file's).")
    ] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Simulator seed (default: the file's).")] = None,
    services: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=100_000,
            help="A diverse fleet of N services drawn around the fleet file's (seeded; docs/BACKTESTING.md).",
        ),
    ] = None,
    step_minutes: Annotated[float, typer.Option(min=0.1, max=1440, help="Simulated minutes per step.")] = 5.0,
    weights: Annotated[
        str | None,
        typer.Option(help="Scoring weights, e.g. cost=0.5,latency=0.2,credits=0.15,availability=0.15."),
    ] = None,
    min_confidence: Annotated[
        float | None, typer.Option(min=0, max=1, help="Engine confidence threshold.")
    ] = None,
    min_savings: Annotated[
        float | None, typer.Option(min=0, help="Engine net monthly savings threshold (USD).")
    ] = None,
    pipeline_delay_steps: Annotated[
        int, typer.Option(min=1, max=10_000, help="Steps from an auto-approved decision to the applied move.")
    ] = 1,
    human_delay_hours: Annotated[
        float,
        typer.Option(
            min=0, max=24 * 30, help="Hours until a person acts on a manual review (at least one step)."
        ),
    ] = 4.0,
    manual: Annotated[
        str,
        typer.Option(
            metavar=choices(MANUAL_OUTCOMES),
            help="How manual reviews are handled: live (the live loop: a waiting review is refreshed when "
            "its evidence grows and withdrawn when the engine stops recommending it for a window; the "
            "person approves what still waits), or what a person does when the delay is over: approve, "
            "reject, or recheck (approve only if the engine still picks that target).",
        ),
    ] = "live",
    amortisation_months: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            max=120,
            help="The engine's amortisation period in the replay (default: the horizon, days / 30.44).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="Also write an HTML report with charts here.")
    ] = None,
    sweep: Annotated[
        str | None,
        typer.Option(metavar=choices(SWEEP_CHOICES), help="Sensitivity sweep instead of one run."),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(help="A suite's scenarios replayed at once, each in its own process (1: one by one)."),
    ] = 1,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
) -> None:
    """Replay a scenario on the accelerated clock: static vs platform vs hindsight oracle (or a suite
    of scenarios, with their calibration pooled)."""
    from swen.backtest.runner import prepare, replay_platform
    from swen.backtest.sweep import SWEEP_KINDS, run_sweep, sweep_document, sweep_table

    suite = suite_names(scenario)
    if manual not in MANUAL_OUTCOMES:
        raise ConfigError(
            f"--manual {manual!r}", hint=f"use one of {', '.join(MANUAL_OUTCOMES)}", source="--manual"
        )
    if sweep is not None and sweep not in SWEEP_KINDS:
        raise ConfigError(f"--sweep {sweep!r}", hint=f"use one of {', '.join(SWEEP_KINDS)}", source="--sweep")
    if sweep is not None and html_out is not None:
        raise ConfigError("--html is for single runs", hint="drop --html or --sweep", source="--html")
    if sweep is not None and suite is not None:
        raise ConfigError(
            "--sweep is for one scenario",
            hint="give --scenario one scenario, or drop --sweep",
            source="--sweep",
        )
    check_jobs(jobs, suite=suite is not None)
    if html_out is not None and not html_out.parent.is_dir():
        raise ConfigError(
            f"folder {html_out.parent} does not exist",
            hint="create it or choose another path",
            source="--html",
        )
    build = _config_builder(
        days=days,
        seed=seed,
        services=services,
        step_minutes=step_minutes,
        weights=weights,
        min_confidence=min_confidence,
        min_savings=min_savings,
        amortisation_months=amortisation_months,
        lifecycle=(pipeline_delay_steps, human_delay_hours, manual),
    )
    if suite is not None:
        configs = [build(name) for name in suite]  # every file validated before anything runs
        _run_suite(configs, jobs=jobs, as_json=as_json, html_out=html_out, progress=progress)
        return
    config = build(scenario)
    with _progress(progress) as factory:
        prepared = prepare(config, progress=factory)
        if sweep is not None:
            rows = run_sweep(prepared, sweep, progress=factory)
        else:
            result = replay_platform(prepared, progress=factory)
    if sweep is not None:
        doc = sweep_document(prepared, sweep, rows)
        if as_json:
            typer.echo(json.dumps(doc, indent=2))
        else:
            console.print(sweep_table(doc))
        return
    _single_output(result, as_json=as_json, html_out=html_out)


def suite_names(value: str) -> list[str] | None:
    """The scenarios of a suite (``all``: every packaged one; ``a,b``: those), None for one scenario.
    Each name stays a path or a packaged name, resolved by ``load_spec``."""
    from swen.backtest.spec import packaged_names

    if value.strip() == SUITE_ALL:
        return packaged_names()
    if "," not in value:
        return None
    names = [part.strip() for part in value.split(",")]
    if any(not name for name in names):
        raise ConfigError(
            f"empty scenario name in {shown(value)}",
            hint="separate scenario names with single commas, e.g. calm-month,price-war",
            source="--scenario",
        )
    seen = {n for n in names if names.count(n) > 1}
    if seen:
        raise ConfigError(
            f"{shown(sorted(seen)[0])} is listed twice", hint="name each scenario once", source="--scenario"
        )
    if SUITE_ALL in names:
        raise ConfigError(
            f"'{SUITE_ALL}' inside a list",
            hint=f"give '{SUITE_ALL}' alone, or list scenarios",
            source="--scenario",
        )
    return names


def check_jobs(jobs: int, *, suite: bool) -> None:
    cpus = os.cpu_count() or 1
    if jobs < 1:
        raise ConfigError(
            f"--jobs {jobs}: at least one scenario must run at a time",
            hint=f"use 1 (one by one) up to {cpus} (this machine's CPUs)",
            source="--jobs",
        )
    if jobs > MAX_JOBS:
        raise ConfigError(
            f"--jobs {jobs}: more than {MAX_JOBS}", hint=f"this machine has {cpus} CPUs", source="--jobs"
        )
    if jobs > 1 and not suite:
        raise ConfigError(
            f"--jobs {jobs} with one scenario",
            hint="--jobs runs a suite's scenarios at once: give --scenario all or a comma-separated list",
            source="--jobs",
        )


def _config_builder(
    *,
    days: float | None,
    seed: int | None,
    services: int | None,
    step_minutes: float,
    weights: str | None,
    min_confidence: float | None,
    min_savings: float | None,
    amortisation_months: float | None,
    lifecycle: tuple[int, float, ManualOutcome],
) -> Callable[[str], BacktestConfig]:
    """``build(scenario)``: the replay's config for one scenario file with the command's settings, and
    the calibration fold that never saw that scenario."""
    from swen.backtest.runner import BacktestConfig
    from swen.backtest.spec import load_spec
    from swen.backtest.strategies import Lifecycle
    from swen.config import load_settings
    from swen.engine.calibration import table_from_dict
    from swen.engine.params import EngineParams
    from swen.telemetry.calibration import load_calibration_data

    settings = load_settings()
    base = EngineParams.from_settings(settings)
    overrides: dict[str, object] = {}
    if weights is not None:
        overrides["weights"] = parse_weights(weights)
    if min_confidence is not None:
        overrides["min_confidence"] = min_confidence
    if min_savings is not None:
        overrides["min_savings_usd"] = min_savings
    data = load_calibration_data()
    table = None if data is None else table_from_dict(data)
    delay_steps, human_h, manual = lifecycle

    def build(scenario: str) -> BacktestConfig:
        spec = load_spec(scenario, credits_file=settings.credits_file)
        fold = {} if table is None else {"calibration": table.for_scenario(spec.name)}  # cross-fitted
        return BacktestConfig(
            spec=spec,
            days=days if days is not None else spec.days,
            seed=seed if seed is not None else spec.seed,
            services=services,
            step_s=step_minutes * 60.0,
            params=base.model_copy(update={**overrides, **fold}),
            amortisation_months=amortisation_months,
            lifecycle=Lifecycle(pipeline_delay_steps=delay_steps, human_delay_h=human_h, manual=manual),
        )

    return build


def _run_suite(
    configs: list[BacktestConfig], *, jobs: int, as_json: bool, html_out: Path | None, progress: bool
) -> None:
    from swen.backtest.html import suite_html, write_atomic
    from swen.backtest.suite import run_suite, suite_document
    from swen.backtest.suite_report import print_suite

    names = [c.spec.name for c in configs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(
            f"two files of the suite are both named {shown(twice[0])}",
            hint="a suite reports each scenario by its name: give each file its own name",
            source="--scenario",
        )
    with _progress(progress) as factory:
        # worker processes draw no bars: the parent counts the scenarios done instead
        finished = factory(f"scenarios ({jobs} at a time)", len(configs)) if jobs > 1 else None
        reports = run_suite(
            configs,
            jobs=jobs,
            progress=factory,
            done=(lambda _name: finished(1)) if finished is not None else (lambda _name: None),
        )
    doc = suite_document(reports)
    if html_out is not None:
        write_atomic(suite_html(doc), html_out)
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        print_suite(doc, console)
        if html_out is not None:
            console.print(f"wrote {html_out}")


def _single_output(result: BacktestResult, *, as_json: bool, html_out: Path | None) -> None:
    from swen.backtest.html import write_html
    from swen.backtest.report import print_report, summary

    doc = summary(result)
    if html_out is not None:
        write_html(result, doc, html_out)
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
    else:
        print_report(doc, console)
        if html_out is not None:
            console.print(f"wrote {html_out}")
