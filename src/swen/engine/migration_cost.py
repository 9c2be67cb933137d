"""What one migration costs: egress, downtime and risk (pure; the one model for the engine and the bill).

For a service moving from placement a to placement b (a != b)::

    egress_usd    = state_gb x egress price(a -> b)                                  (catalog)
    downtime_min  = stateful: stateful_cutover_min + state_gb x stateful_min_per_gb
                    stateless: stateless_cutover_min
    downtime_usd  = downtime_min x downtime_usd_per_min[criticality]
    risk_usd      = failure_rate (stateful or stateless) x incident_min x downtime_usd_per_min[criticality]
    move_usd      = egress_usd + downtime_usd + risk_usd

Downtime is the cut-over (a stateless service behind a load balancer loses about a minute of
connections; a stateful one stops writes while the last of its data is copied). Risk is the expected
cost of a move that goes wrong: the chance it fails times an incident of ``incident_min`` minutes at
the same per-minute value. The per-minute values are what an unavailable minute of a service of that
criticality costs the business; they are assumptions, not data, and every number is configurable:
``EngineParams.migration`` for the engine, a backtest file's ``migration:`` header (any subset of the
fields) for a replay, which hands the same model to the engine it replays and to the bill
(``backtest.trace.build_grid``), so the engine prices a move exactly as the backtest charges it.

The engine uses ``move_usd`` in its net saving (amortised over ``amortisation_months``), its payback
time and its confidence (``forecast``): a move that cannot earn its downtime and risk back within the
payback horizon is not one it is confident about.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from swen.domain.arrays import BoolArray, FloatArray
from swen.domain.models import Criticality, Service


class MigrationCost(BaseModel):
    """The migration-cost model (module docstring; defaults in docs/ENGINE.md and docs/BACKTESTING.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    stateless_cutover_min: float = Field(default=1.0, ge=0, le=1440)
    stateful_cutover_min: float = Field(default=5.0, ge=0, le=1440)
    stateful_min_per_gb: float = Field(default=0.01, ge=0, le=60)
    downtime_usd_per_min: dict[Criticality, float] = Field(
        default_factory=lambda: {
            Criticality.LOW: 0.5,
            Criticality.MEDIUM: 2.0,
            Criticality.HIGH: 10.0,
            Criticality.CRITICAL: 50.0,
        }
    )
    stateless_failure_rate: float = Field(default=0.02, ge=0, le=1)
    stateful_failure_rate: float = Field(default=0.05, ge=0, le=1)
    incident_min: float = Field(default=60.0, ge=0, le=100_000)

    def per_minute(self, service: Service) -> float:
        return float(self.downtime_usd_per_min.get(service.criticality, 0.0))

    def downtime_min(self, service: Service) -> float:
        """Minutes of downtime one move of ``service`` causes (the cut-over)."""
        if service.stateful:
            return self.stateful_cutover_min + service.state_gb * self.stateful_min_per_gb
        return self.stateless_cutover_min

    def fixed_usd(self, service: Service) -> float:
        """Downtime plus risk of one move of ``service`` in USD (egress comes on top)."""
        rate = self.stateful_failure_rate if service.stateful else self.stateless_failure_rate
        return self.per_minute(service) * (self.downtime_min(service) + rate * self.incident_min)

    def fixed_usd_array(self, services: Sequence[Service]) -> FloatArray:
        """:meth:`fixed_usd` of each service (length S), vectorised over the fleet."""
        per_min = np.array([self.downtime_usd_per_min.get(s.criticality, 0.0) for s in services])
        stateful = np.array([s.stateful for s in services], dtype=bool)
        state_gb = np.array([s.state_gb for s in services], dtype=np.float64)
        downtime = np.where(
            stateful,
            self.stateful_cutover_min + state_gb * self.stateful_min_per_gb,
            self.stateless_cutover_min,
        )
        rate = np.where(stateful, self.stateful_failure_rate, self.stateless_failure_rate)
        out: FloatArray = per_min * (downtime + rate * self.incident_min)
        return out


def move_usd(
    state_gb: FloatArray, egress_usd_per_gb: FloatArray, fixed_usd: FloatArray, moving: BoolArray
) -> FloatArray:
    """``state_gb x egress + fixed`` where the service moves (``moving`` true), 0 elsewhere; arrays
    broadcast (the engine passes length S, the backtest's grid S x C x C)."""
    out: FloatArray = np.where(moving, state_gb * egress_usd_per_gb + fixed_usd, 0.0)
    return out
