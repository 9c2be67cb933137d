"""Telemetry sources behind one protocol: where a cycle's samples come from.

A ``TelemetrySource`` answers one question: the samples of every (service, candidate provider/region)
it knows at a time ``at``. Two implementations:

- ``SimulatorSource`` (the default, ``telemetry_source: simulator``): the deterministic simulator
  (``telemetry/simulator.py``) stepped at ``at`` with the services' current placements;
- ``PrometheusSource`` (``telemetry_source: prometheus``, ``telemetry/prometheus.py``): PromQL on the
  team's own Prometheus, evaluated at ``at``.

``collect_cycle`` is what a collector does with a source's answer, the same for both: store the
samples, write ``latest_telemetry.json`` and append a TELEMETRY_CYCLE event. The engine reads only the
store, so it cannot tell the two apart (``tests/integration/test_prometheus_source.py`` checks that it
decides the same from the same data).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from swen.config import Settings
from swen.domain.events import EventType
from swen.domain.models import Placement, TelemetrySample
from swen.store.exports import write_latest_telemetry

if TYPE_CHECKING:
    from swen.store.repository import Store
    from swen.telemetry.simulator import Simulator


class TelemetrySource(Protocol):
    """Where telemetry comes from."""

    name: str

    def collect(self, at: datetime, placements: Mapping[str, Placement]) -> list[TelemetrySample]:
        """Every sample the source has at ``at`` (``placements``: where each service runs now)."""
        ...


class SimulatorSource:
    """The simulator as a telemetry source."""

    name = "simulator"

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    def collect(self, at: datetime, placements: Mapping[str, Placement]) -> list[TelemetrySample]:
        self.simulator.set_placements(placements)
        return self.simulator.step(at)


def collect_cycle(
    settings: Settings, store: Store, source: TelemetrySource, at: datetime, *, durable: bool = True
) -> list[TelemetrySample]:
    """One cycle from ``source`` at ``at``: stored, exported to latest_telemetry.json, and announced."""
    placements = {s.name: s.fleet_placement for s in store.list_services()} | store.get_placements()
    samples = source.collect(at, placements)
    if samples:
        store.insert_samples(samples)
    write_latest_telemetry(
        settings.latest_telemetry_path, samples, generated_at=at, placements=placements, fsync=durable
    )
    store.append_event(
        EventType.TELEMETRY_CYCLE,
        {"count": len(samples), "sim_time": at.isoformat(), "source": source.name, "active_scenarios": []},
    )
    return samples
