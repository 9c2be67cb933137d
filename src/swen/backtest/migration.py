"""What one migration costs in the backtest: egress, downtime and risk (docs/BACKTESTING.md).

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
criticality costs the business; they are assumptions, not data, and every number is configurable in a
backtest file's ``migration:`` header (any subset of the fields below).

Every strategy pays the same ``move_usd`` per move (static never moves), so the oracle weighs the
whole cost too. The engine's own savings estimate counts egress only (``engine.savings``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from swen.domain.models import Criticality, Service


class MigrationCost(BaseModel):
    """The backtest's migration-cost model (defaults documented in docs/BACKTESTING.md)."""

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
