"""``swen backtest``: replay a scenario through the real engine, policy gate and lifecycle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from swen.backtest.lifecycle import MANUAL_OUTCOMES
from swen.cli.help import choices
from swen.domain.errors import ConfigError
from swen.domain.models import FACTORS, Weights

if TYPE_CHECKING:
    from swen.backtest.runner import BacktestResult, ProgressFactory
    from swen.backtest.trace import Progress as StepProgress

console = Console()
err_console = Console(stderr=True)
SWEEP_CHOICES = ("weights", "thresholds")
"""--sweep's values: swen.backtest.sweep.SWEEP_KINDS, which is imported only for a sweep (it loads the
whole backtest runner)."""


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
            help="Backtest YAML file, or a packaged one: calm-month, price-war, gpu-scarcity, "
            "provider-outages.",
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
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
) -> None:
    """Replay a scenario on the accelerated clock: static vs platform vs hindsight oracle."""
    from swen.backtest.runner import BacktestConfig, prepare, replay_platform
    from swen.backtest.spec import load_spec
    from swen.backtest.strategies import Lifecycle
    from swen.backtest.sweep import SWEEP_KINDS, run_sweep, sweep_document, sweep_table
    from swen.config import load_settings
    from swen.engine.calibration import table_from_dict
    from swen.engine.params import EngineParams
    from swen.telemetry.calibration import load_calibration_data

    if manual not in MANUAL_OUTCOMES:
        raise ConfigError(
            f"--manual {manual!r}", hint=f"use one of {', '.join(MANUAL_OUTCOMES)}", source="--manual"
        )
    if sweep is not None and sweep not in SWEEP_KINDS:
        raise ConfigError(f"--sweep {sweep!r}", hint=f"use one of {', '.join(SWEEP_KINDS)}", source="--sweep")
    if sweep is not None and html_out is not None:
        raise ConfigError("--html is for single runs", hint="drop --html or --sweep", source="--html")
    if html_out is not None and not html_out.parent.is_dir():
        raise ConfigError(
            f"folder {html_out.parent} does not exist",
            hint="create it or choose another path",
            source="--html",
        )
    settings = load_settings()
    spec = load_spec(scenario, credits_file=settings.credits_file)
    params = EngineParams.from_settings(settings)
    overrides: dict[str, object] = {}
    if weights is not None:
        overrides["weights"] = parse_weights(weights)
    if min_confidence is not None:
        overrides["min_confidence"] = min_confidence
    if min_savings is not None:
        overrides["min_savings_usd"] = min_savings
    calibration = load_calibration_data()
    if calibration is not None:  # the fold fitted without this scenario (cross-fitted)
        overrides["calibration"] = table_from_dict(calibration).for_scenario(spec.name)
    params = params.model_copy(update=overrides)
    config = BacktestConfig(
        spec=spec,
        days=days if days is not None else spec.days,
        seed=seed if seed is not None else spec.seed,
        services=services,
        step_s=step_minutes * 60.0,
        params=params,
        amortisation_months=amortisation_months,
        lifecycle=Lifecycle(
            pipeline_delay_steps=pipeline_delay_steps,
            human_delay_h=human_delay_hours,
            manual=manual,
        ),
    )
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
