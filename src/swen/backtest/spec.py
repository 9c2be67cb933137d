"""Backtest scenario files: a header (name, description, days, fleet, seed) plus simulator scenarios.

A backtest file is the simulator's scenario format (``swen.telemetry.scenarios``) with a header::

    name: price-war
    description: Alibaba cuts prices by 25 % for two weeks, AWS answers in us-east-1.
    days: 30          # length of the replay (the CLI's --days overrides it)
    seed: 7           # simulator seed (the CLI's --seed overrides it)
    fleet: default    # the packaged fleet, or a path to a fleet file (relative to this file)
    credits:          # optional: replaces the credit ledger file's grants (SWEN_CREDITS_FILE, else
      aws: {balance_usd: 20000, expires_after_days: 15}   # the packaged one): this short form per
                      # provider, a path to a ledger file (relative to this file) or {grants: [...]}
    migration:        # optional: the migration-cost model (backtest.migration.MigrationCost)
      stateful_failure_rate: 0.1
    scenarios:        # start_offset_s is counted from the start of the replay; may be empty
      - {kind: cost_spike, provider: alibaba, magnitude: 0.75, start_offset_s: 432000, ...}

``--scenario`` takes a path or the name of a packaged file (``calm-month``, ``price-war``,
``gpu-scarcity``, ``provider-outages``; see docs/BACKTESTING.md).

Scaled fleets (``--services N``): a diverse fleet drawn around the fleet file's services
(``backtest.fleet.generate_fleet``), named after their archetype with suffixes ``-001``, ``-002``,
... (``service-1-001``, ..., ``batch-t4-001``, ``service-1-002``, ...). A scenario aimed at one
service applies to each service drawn from it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from swen.backtest.fleet import GeneratedFleet, generate_fleet
from swen.backtest.migration import MigrationCost
from swen.domain.errors import ConfigError, shown
from swen.domain.models import Service
from swen.domain.providers import PROVIDERS
from swen.telemetry.catalog import Catalog, load_catalog
from swen.telemetry.credit_file import (
    Grant,
    grants_from_balances,
    load_credit_ledger,
    parse_credit_ledger,
)
from swen.telemetry.fleet import load_fleet_file
from swen.telemetry.scenarios import Scenario, parse_scenario
from swen.telemetry.yamlfile import check_finite, read_yaml

HEADER_KEYS = ("name", "description", "days", "seed", "fleet", "credits", "migration", "scenarios")
DEFAULT_FLEET = "default"
MAX_DAYS = 366
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class BacktestSpec:
    """A validated backtest file."""

    name: str
    description: str
    days: float
    seed: int
    fleet: Path | None
    """None: the packaged default fleet."""
    scenarios: tuple[Scenario, ...]
    source: str
    credits: tuple[Grant, ...] = ()
    """The credit grants: the file's ``credits:``, else the credit ledger file's."""
    migration: MigrationCost = field(default_factory=MigrationCost)


def packaged_dir() -> Path:
    return Path(str(resources.files("swen").joinpath("scenarios")))


SHIPPED_SCENARIOS = (
    "calm-month",
    "price-war",
    "gpu-scarcity",
    "provider-outages",
    "price-duel",
    "gpu-squeeze",
    "noisy-flat",
)
"""The packaged scenarios in the order docs/BENCHMARKS.md tables them (``packaged_names`` sorts them)."""


def packaged_names() -> list[str]:
    return sorted(p.stem for p in packaged_dir().glob("*.yaml"))


def resolve_scenario_path(value: str) -> Path:
    """A path to a file, or the name of a packaged scenario (with or without ``.yaml``)."""
    path = Path(value)
    try:
        if path.is_file():
            return path
    except (OSError, ValueError):  # e.g. a name longer than the OS allows, or a NUL byte
        pass
    stem = value.removesuffix(".yaml")
    if _NAME.fullmatch(stem):
        packaged = packaged_dir() / f"{stem}.yaml"
        if packaged.is_file():
            return packaged
    raise ConfigError(
        f"no scenario file {shown(value)}",
        hint=f"give a path to a YAML file or one of the packaged scenarios: {', '.join(packaged_names())}",
        source="--scenario",
    )


def load_spec(
    value: str, catalog: Catalog | None = None, *, credits_file: Path | None = None
) -> BacktestSpec:
    """Read and validate a backtest file (path or packaged name); problems are one ConfigError line.
    ``credits_file``: the credit ledger file used when the backtest file has no ``credits:`` (the
    live platform's ``SWEN_CREDITS_FILE``; None: the packaged one)."""
    path = resolve_scenario_path(value)
    label = str(path)
    data = read_yaml(path, label)
    return parse_spec(data, label=label, base=path.parent, catalog=catalog, credits_file=credits_file)


def parse_spec(
    data: Any,
    *,
    label: str,
    base: Path,
    catalog: Catalog | None = None,
    credits_file: Path | None = None,
) -> BacktestSpec:
    if not isinstance(data, dict):
        raise ConfigError(
            "a backtest file must be a mapping with name, description, days and scenarios",
            hint="see the packaged scenarios (docs/BACKTESTING.md)",
            source=label,
        )
    unknown = sorted(set(data) - set(HEADER_KEYS))
    if unknown:
        raise ConfigError(
            f"{unknown[0]}: unknown top-level key",
            hint=f"allowed keys: {', '.join(HEADER_KEYS)}",
            source=label,
        )
    check_finite(label, "", data)
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            f"name: {name!r} is not a lowercase name", hint="e.g. name: price-war", source=label
        )
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(
            "description: must be text", hint="describe the scenario in a sentence", source=label
        )
    days = _number(data.get("days", 30), "days", label, low=1 / 24, high=MAX_DAYS)
    seed = data.get("seed", 42)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed: {seed!r} is not a whole number >= 0", hint="e.g. seed: 7", source=label)
    raw = data.get("scenarios") or []
    if not isinstance(raw, list):
        raise ConfigError("scenarios: must be a list", hint="use scenarios: [] for none", source=label)
    scenarios = tuple(
        parse_scenario(item, label=label, prefix=f"scenarios[{i}]", catalog=catalog or load_catalog())
        for i, item in enumerate(raw)
    )
    return BacktestSpec(
        name=name,
        description=description.strip(),
        days=days,
        seed=seed,
        fleet=_fleet_path(data.get("fleet", DEFAULT_FLEET), base, label),
        scenarios=scenarios,
        source=label,
        credits=_credits(data.get("credits"), label, base, credits_file),
        migration=_migration(data.get("migration"), label),
    )


def _credits(value: Any, label: str, base: Path, credits_file: Path | None) -> tuple[Grant, ...]:
    if value is None:
        return load_credit_ledger(credits_file).grants
    if isinstance(value, str):
        path = Path(value) if Path(value).is_absolute() else base / value
        if not path.is_file():
            raise ConfigError(
                f"credits: no ledger file {shown(str(path))}",
                hint="give a path to a credits.yaml (relative to this file) or the grants inline",
                source=label,
            )
        return load_credit_ledger(path).grants
    if isinstance(value, dict) and "grants" in value:
        return parse_credit_ledger(value, f"{label}: credits").grants
    if not isinstance(value, dict):
        raise ConfigError(
            "credits: must be a mapping of provider -> grant, a ledger file or {grants: [...]}",
            hint="e.g. credits: {aws: {balance_usd: 20000, expires_after_days: 15}}",
            source=label,
        )
    for provider in value:
        if provider not in PROVIDERS:
            raise ConfigError(
                f"credits.{shown(str(provider))}: unknown provider",
                hint=f"valid providers: {PROVIDERS.choices()}",
                source=label,
            )
    try:
        return grants_from_balances(value)
    except ValueError as exc:
        raise ConfigError(
            f"credits.{exc}",
            hint="fields: balance_usd, expires_after_days, refill_usd, refill_every_days",
            source=label,
        ) from None


def _migration(value: Any, label: str) -> MigrationCost:
    if value is None:
        return MigrationCost()
    try:
        return MigrationCost.model_validate(value)
    except ValidationError as exc:
        raise ConfigError(
            f"migration: {_first_error(exc)}",
            hint="see the migration-cost fields in docs/BACKTESTING.md",
            source=label,
        ) from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else str(err["msg"])


def _number(value: Any, field: str, label: str, *, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(
            f"{field}: {value!r} is not a number in [{low:g}, {high:g}]", hint="fix the value", source=label
        )
    return float(value)


def _fleet_path(value: Any, base: Path, label: str) -> Path | None:
    if value in (None, DEFAULT_FLEET):
        return None
    if not isinstance(value, str):
        raise ConfigError("fleet: must be 'default' or a path", hint="e.g. fleet: default", source=label)
    path = Path(value)
    path = path if path.is_absolute() else base / path
    if not path.is_file():
        raise ConfigError(
            f"fleet: no file {path}", hint="give 'default' or an existing fleet file", source=label
        )
    return path


def load_services(
    spec: BacktestSpec, *, services: int | None = None, seed: int = 0, catalog: Catalog | None = None
) -> tuple[GeneratedFleet, tuple[Grant, ...]]:
    """The spec's fleet (a diverse fleet of ``services`` drawn with ``seed`` when given) and its
    credit grants (``BacktestSpec.credits``)."""
    catalog = catalog or load_catalog()
    fleet = load_fleet_file(spec.fleet, catalog)
    base = fleet.services
    generated = (
        generate_fleet(base, services, seed=seed, catalog=catalog)
        if services is not None
        else GeneratedFleet(list(base), None)
    )
    return generated, spec.credits


def expand_scenarios(scenarios: Sequence[Scenario], services: Sequence[Service]) -> list[Scenario]:
    """Scenarios aimed at one service, repeated for each of that service's replicas (scaled fleets)."""
    names = [s.name for s in services]
    present = set(names)
    out: list[Scenario] = []
    for scenario in scenarios:
        target = scenario.service
        if target is None or target in present:
            out.append(scenario)
            continue
        replicas = [n for n in names if n.rsplit("-", 1)[0] == target[:58] and n != target]
        out.extend(scenario.model_copy(update={"service": n}) for n in replicas)
    return out
