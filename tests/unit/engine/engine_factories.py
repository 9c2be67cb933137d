"""A scenario driver for the engine tests (real window, real evaluate, no mocks); services come from
``support.builders.service``."""
# Imported by the engine tests as `engine_factories` (unique module name: tests have no __init__.py).

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from support.builders import telemetry_sample
from swen.domain.models import Placement, Service, TelemetrySample
from swen.engine.confidence import WinnerHistory
from swen.engine.decide import EngineInputs, EngineParams, EngineResult, evaluate
from swen.engine.forecast import AdvantageState
from swen.engine.migration_cost import MigrationCost
from swen.engine.window import SampleWindow

T0 = datetime(2026, 1, 1, tzinfo=UTC)
US_EAST = Placement.parse("aws/us-east-1")
US_WEST = Placement.parse("aws/us-west-2")
ALI_SG = Placement.parse("alibaba/ap-southeast-1")
ALI_HZ = Placement.parse("alibaba/cn-hangzhou")


def cell(
    hourly: float = 1.0,
    latency: float = 20.0,
    credits: float = 0.0,
    availability: float = 1.0,
    gpu: float = 1.0,
) -> dict[str, float]:
    return {
        "hourly": hourly,
        "latency": latency,
        "credits": credits,
        "availability": availability,
        "gpu": gpu,
    }


def flat_egress(price: float = 0.02) -> Callable[[Placement, Placement], float]:
    return lambda src, dst: price


EGRESS_ONLY = MigrationCost(downtime_usd_per_min={})
"""A migration-cost model without downtime and risk (a move costs its egress): the engine tests below
are about scoring, thresholds and confidence; test_migration_cost.py covers downtime and risk."""


def engine_params(**kw: Any) -> EngineParams:
    """``EngineParams`` with moves priced by egress only (:data:`EGRESS_ONLY`) unless given."""
    return EngineParams(**({"migration": EGRESS_ONLY} | kw))


@dataclass
class Scenario:
    """Feeds one sample per (service, placement) per cycle and runs the engine on it."""

    services: list[Service]
    placements: list[Placement]
    cells: dict[tuple[str, str], dict[str, float]]
    params: EngineParams = field(default_factory=engine_params)
    egress: Callable[[Placement, Placement], float] = field(default_factory=flat_egress)
    step_s: float = 30.0
    window: SampleWindow = field(init=False)
    history: WinnerHistory | None = None
    prev_history: WinnerHistory | None = None
    advantage: AdvantageState | None = None
    prev_advantage: AdvantageState | None = None
    now: datetime = T0
    cycles: int = 0

    def __post_init__(self) -> None:
        self.window = SampleWindow(
            [s.name for s in self.services], self.placements, self.params.stability_window
        )

    def set(self, service_name: str, placement: Placement, **values: float) -> None:
        self.cells[(service_name, placement.key)] = {**self.cells[(service_name, placement.key)], **values}

    def samples(self, skip: Iterable[tuple[str, str]] = ()) -> list[TelemetrySample]:
        skipped = set(skip)
        out = []
        for (name, key), v in self.cells.items():
            if (name, key) in skipped:
                continue
            out.append(
                telemetry_sample(
                    name,
                    key,
                    ts=self.now,
                    hourly=v["hourly"],
                    latency=v["latency"],
                    credits=v["credits"],
                    gpu_availability=v["gpu"],
                    availability=v["availability"],
                    error_rate=0.0,
                    instance_type="m5.xlarge",
                )
            )
        return out

    def run(self, cycles: int = 1, *, skip: Iterable[tuple[str, str]] = (), **inputs: Any) -> EngineResult:
        result: EngineResult | None = None
        skip = list(skip)
        for _ in range(cycles):
            self.now = T0 + timedelta(seconds=self.step_s * self.cycles)
            self.cycles += 1
            self.window.update(self.samples(skip))
            self.prev_history = self.history
            self.prev_advantage = self.advantage
            result = self.evaluate(**inputs)
            self.history = result.history
            self.advantage = result.advantage
        assert result is not None
        return result

    def evaluate(self, **inputs: Any) -> EngineResult:
        """Evaluate the latest cycle (same window, same input history); ``inputs`` override."""
        base: dict[str, Any] = {
            "services": self.services,
            "window": self.window,
            "now": self.now,
            "egress_usd_per_gb": self.egress,
            "params": self.params,
            "history": self.prev_history,
            "advantage": self.prev_advantage,
        }
        base.update(inputs)
        return evaluate(EngineInputs(**base))


def make_scenario(
    services: list[Service],
    cells: Mapping[tuple[str, Placement], dict[str, float]],
    placements: list[Placement] | None = None,
    **kw: Any,
) -> Scenario:
    keyed = {(name, p.key): dict(v) for (name, p), v in cells.items()}
    places = placements or list(dict.fromkeys(p for (_, p) in cells))
    return Scenario(services=services, placements=places, cells=keyed, **kw)
