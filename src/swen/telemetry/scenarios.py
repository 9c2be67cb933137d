"""Injectable scenarios: provider outage, latency spike, cost spike, credit expiry, GPU stock-out.

A scenario hits one provider (optionally one region and/or one service). It becomes active
``start_offset_s`` simulated seconds after the simulator activates it and lasts ``duration_s``
(credit expiry is a one-time event: the balance drops to 0 and stays there until a refill).

Effects (applied by the simulator on top of the normal model):

=============  ==========================================================================  =========
kind           effect on matching samples                                                   magnitude
=============  ==========================================================================  =========
outage         availability -> 1 - 0.8 x m (0.2 at m = 1), error_rate -> 0.5 x m,           1.0
               latency x (1 + 9 x m)
latency_spike  latency x m                                                                  5.0
cost_spike     hourly price x m                                                             3.0
credit_expiry  the provider's credit balance -> 0 (credits are per provider: region and    (unused)
               service do not narrow it)
gpu_stockout   gpu_availability -> 0 (GPU samples only)                                     (unused)
=============  ==========================================================================  =========

Sources: a YAML scenario file (``load_scenario_file``), loaded when the simulator starts, and
``inject_scenario(store, scenario)``, which appends a SCENARIO event to the store; a running simulator
polls ``store.events_after(cursor, types=[SCENARIO])`` each tick and activates new ones. The cursor is
kept in the store state ``ScenarioCursor`` (key ``telemetry.scenario_cursor``), so a scenario injected
while no simulator runs is picked up by the next one (including ``--once``).
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from swen.domain.errors import ConfigError, InvalidInputError, shown
from swen.domain.events import EventSink, EventType
from swen.domain.models import Placement
from swen.domain.names import LocationName, ServiceName
from swen.domain.providers import PROVIDERS
from swen.store.state import ScenarioCursor
from swen.telemetry.catalog import Catalog, load_catalog
from swen.telemetry.yamlfile import check_finite, check_name, read_yaml, validation_error

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable

SCENARIO_CURSOR_FLAG = ScenarioCursor.key
_log = logging.getLogger(__name__)


class ScenarioKind(StrEnum):
    OUTAGE = "outage"
    LATENCY_SPIKE = "latency_spike"
    COST_SPIKE = "cost_spike"
    CREDIT_EXPIRY = "credit_expiry"
    GPU_STOCKOUT = "gpu_stockout"


DEFAULT_MAGNITUDE: dict[ScenarioKind, float] = {
    ScenarioKind.OUTAGE: 1.0,
    ScenarioKind.LATENCY_SPIKE: 5.0,
    ScenarioKind.COST_SPIKE: 3.0,
    ScenarioKind.CREDIT_EXPIRY: 1.0,
    ScenarioKind.GPU_STOCKOUT: 1.0,
}


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    kind: ScenarioKind
    provider: LocationName
    region: LocationName | None = None
    service: ServiceName | None = None
    magnitude: float | None = Field(default=None, gt=0, le=1000)
    """Strength (see the table in the module docstring); None = the kind's default."""
    start_offset_s: float = Field(default=0.0, ge=0, le=365 * 86400)
    duration_s: float = Field(default=900.0, gt=0, le=365 * 86400)
    name: str | None = Field(default=None, max_length=120)

    @field_validator("magnitude")
    @classmethod
    def _valid_magnitude(cls, magnitude: float | None, info: ValidationInfo) -> float | None:
        kind = info.data.get("kind")  # validated first (declared first); missing when it was invalid
        if kind is ScenarioKind.OUTAGE and magnitude is not None and magnitude > 1:
            raise ValueError("an outage magnitude is a severity in (0, 1]; 1 = full outage")
        if kind is ScenarioKind.LATENCY_SPIKE and magnitude is not None and magnitude < 1:
            raise ValueError("a latency spike multiplies latency; use a magnitude >= 1")
        return magnitude

    @property
    def strength(self) -> float:
        return self.magnitude if self.magnitude is not None else DEFAULT_MAGNITUDE[self.kind]

    def describe(self) -> str:
        where = self.provider + (f"/{self.region}" if self.region else "")
        who = f" for {self.service}" if self.service else ""
        return f"{self.kind.value} on {where}{who} (x{self.strength:g}, {self.duration_s:g} s)"

    def check_against(self, catalog: Catalog) -> None:
        """Unknown provider or region -> InvalidInputError naming the valid ones."""
        PROVIDERS.get(self.provider)
        if self.region is not None:
            catalog.check_placement(Placement(provider=self.provider, region=self.region))


def parse_scenario(
    data: Any, *, label: str = "scenario", prefix: str = "", catalog: Catalog | None = None
) -> Scenario:
    """Validate one scenario mapping; errors are one ConfigError line naming the field."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{prefix or 'scenario'}: must be a mapping",
            hint="give kind, provider and optionally region, service, magnitude",
            source=label,
        )
    check_finite(label, prefix, data)
    _check_provider(label, f"{prefix}.provider" if prefix else "provider", data.get("provider"))
    for key in ("provider", "region"):
        if data.get(key) is not None:
            check_name(label, f"{prefix}.{key}" if prefix else key, data[key], location=True)
    if data.get("service") is not None:
        check_name(label, f"{prefix}.service" if prefix else "service", data["service"])
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise validation_error(label, prefix, exc) from None
    try:
        scenario.check_against(catalog or load_catalog())
    except InvalidInputError as exc:
        field = "region" if scenario.region and "region" in exc.message else "provider"
        raise ConfigError(
            f"{prefix + '.' if prefix else ''}{field}: {exc.message}", hint=exc.hint, source=label
        ) from None
    return scenario


def _check_provider(label: str, field: str, value: object) -> None:
    """An unknown provider names the valid ones (not the name pattern): 'AWS' is a typo of 'aws'."""
    if not isinstance(value, str) or value in PROVIDERS:
        return
    lower = value.lower()
    hint = f"provider names are lowercase: use {lower!r}" if lower in PROVIDERS else "SWEN models only these"
    raise ConfigError(
        f"{field}: unknown provider {shown(value)}: use one of {PROVIDERS.choices()}", hint=hint, source=label
    )


def load_scenario_file(path: Path, catalog: Catalog | None = None) -> list[Scenario]:
    """Read ``scenarios: [...]`` from a YAML file; any problem is one ConfigError line."""
    label = str(path)
    data = read_yaml(path, label)
    if not isinstance(data, dict) or set(data) != {"scenarios"} or not isinstance(data["scenarios"], list):
        raise ConfigError(
            "the file must be a mapping with one key, 'scenarios:', holding a list",
            hint="e.g. scenarios: [{kind: outage, provider: aws, region: us-east-1}]",
            source=label,
        )
    if not data["scenarios"]:
        raise ConfigError("scenarios: empty list", hint="list at least one scenario", source=label)
    return [
        parse_scenario(item, label=label, prefix=f"scenarios[{i}]", catalog=catalog)
        for i, item in enumerate(data["scenarios"])
    ]


class _EventSource(Protocol):
    def events_after(
        self, after_id: int, *, limit: int = 1000, types: Collection[EventType] | None = None
    ) -> list[Any]: ...

    def load_state(
        self, model: type[ScenarioCursor], *, decision_id: str | None = None
    ) -> ScenarioCursor | None: ...

    def save_state(self, value: ScenarioCursor, *, decision_id: str | None = None) -> None: ...


def inject_scenario(store: EventSink, scenario: Scenario) -> Any:
    """Hand ``scenario`` to the running (or next) simulator through the store's event log."""
    return store.append_event(EventType.SCENARIO, scenario.model_dump(mode="json"), service=scenario.service)


class ScenarioInbox:
    """Reads injected scenarios for one simulator; the cursor is read from the store once, then kept
    in memory and saved (store state ``ScenarioCursor``) whenever it moves."""

    PAGE = 500

    def __init__(self, store: _EventSource, catalog: Catalog | None = None) -> None:
        self.store = store
        self.catalog = catalog
        self.cursor: int | None = None

    def poll(self) -> list[Scenario]:
        """Scenarios injected since the last poll. Invalid payloads are logged and skipped."""
        if self.cursor is None:
            self.cursor = (self.store.load_state(ScenarioCursor) or ScenarioCursor()).event_id
        start = self.cursor
        found: list[Scenario] = []
        while True:
            events = self.store.events_after(self.cursor, limit=self.PAGE, types=[EventType.SCENARIO])
            for event in events:
                self.cursor = max(self.cursor, int(event.id))
                found.extend(_valid(event.payload, self.catalog))
            if len(events) < self.PAGE:
                break
        if self.cursor != start:
            self.store.save_state(ScenarioCursor(event_id=self.cursor))
        return found


def poll_injected(store: _EventSource, catalog: Catalog | None = None) -> list[Scenario]:
    """Scenarios injected since the cursor saved in the store (advances it)."""
    return ScenarioInbox(store, catalog).poll()


def _valid(payload: Any, catalog: Catalog | None) -> Iterable[Scenario]:
    try:
        yield parse_scenario(payload, label="scenario event", catalog=catalog)
    except ConfigError as exc:
        _log.warning("ignoring an invalid scenario event: %s", exc)
