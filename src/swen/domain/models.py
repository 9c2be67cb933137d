"""Core domain models: placements, services, offers, telemetry samples, scoring weights."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from swen.domain.names import LocationName, ServiceName

HOURS_PER_MONTH = 730.0
"""Monthly cost = hourly x 730, the convention Infracost and OpenCost use."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Placement(_Strict):
    """Where a service runs: a provider and one of its regions."""

    provider: LocationName
    region: LocationName

    @property
    def key(self) -> str:
        return f"{self.provider}/{self.region}"

    def __str__(self) -> str:
        return self.key

    @classmethod
    def parse(cls, key: str) -> Placement:
        provider, _, region = key.partition("/")
        return cls(provider=provider, region=region)


class Criticality(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ServiceShape(_Strict):
    """The compute a service needs."""

    vcpus: int = Field(gt=0, le=1024)
    memory_gib: float = Field(gt=0, le=24576)
    gpu_model: str | None = None
    gpu_count: int = Field(default=0, ge=0, le=64)

    @model_validator(mode="after")
    def _gpu_consistent(self) -> ServiceShape:
        if (self.gpu_model is None) != (self.gpu_count == 0):
            raise ValueError("gpu_model and gpu_count go together: set both (e.g. A10G and 1) or neither")
        return self


class Service(_Strict):
    """A service SWEN places, as its fleet file describes it.

    ``fleet_placement`` is where the fleet file says it runs (key ``current`` in the file): where it
    starts before any move. Where it runs now is the applied placement (``swen.moves.running``).
    """

    name: ServiceName
    shape: ServiceShape
    stateful: bool = False
    latency_slo_ms: float = Field(gt=0, le=60_000)
    criticality: Criticality = Criticality.MEDIUM
    users_region: Placement
    """Where the service's users are; latency is the RTT from here to the candidate region."""
    allowed_providers: tuple[LocationName, ...] = ()
    """Empty means every known provider."""
    allowed_regions: tuple[LocationName, ...] = ()
    """Empty means every region of an allowed provider (data residency when set)."""
    fleet_placement: Placement = Field(validation_alias=AliasChoices("fleet_placement", "current"))
    """Where the fleet file places the service (``current:`` in the file); not where it runs now."""
    state_gb: float = Field(default=50.0, ge=0, le=1e7)
    """Data moved on migration (egress is paid on it once)."""
    monthly_budget_usd: float | None = Field(default=None, gt=0)
    replicas: int = Field(default=1, ge=1, le=10_000)

    def allows(self, placement: Placement) -> bool:
        if self.allowed_providers and placement.provider not in self.allowed_providers:
            return False
        return not (self.allowed_regions and placement.region not in self.allowed_regions)


class Offer(_Strict):
    """An instance shape offered in one provider region, with its list prices."""

    provider: LocationName
    region: LocationName
    instance_type: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    vcpus: int = Field(gt=0)
    memory_gib: float = Field(gt=0)
    gpu_name: str | None = None
    gpu_count: int = Field(default=0, ge=0)
    price_hour_usd: float = Field(ge=0)
    spot_price_hour_usd: float | None = Field(default=None, ge=0)
    simulated: bool = False
    """True for synthetic prices (Alibaba Cloud); must stay visible wherever the price is shown."""
    source: str

    @property
    def placement(self) -> Placement:
        return Placement(provider=self.provider, region=self.region)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware (UTC)")
    return value.astimezone(UTC)


class TelemetrySample(_Strict):
    """One observation of one service on one candidate (provider, region) at one time."""

    service: ServiceName
    provider: LocationName
    region: LocationName
    ts: datetime
    instance_type: str = Field(min_length=1, max_length=64)
    hourly_cost_usd: float = Field(ge=0, le=1e6)
    latency_ms: float = Field(ge=0, le=600_000)
    credits_usd: float = Field(ge=0, le=1e9)
    gpu_availability: float = Field(ge=0, le=1)
    availability: float = Field(ge=0, le=1)
    error_rate: float = Field(ge=0, le=1)
    simulated_price: bool = False
    """True when the price behind ``hourly_cost_usd`` is synthetic (Alibaba Cloud)."""

    _ts_utc = field_validator("ts")(_utc)

    @field_validator(
        "hourly_cost_usd", "latency_ms", "credits_usd", "gpu_availability", "availability", "error_rate"
    )
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number (NaN and infinity are rejected)")
        return value

    @property
    def instance_monthly_cost_usd(self) -> float:
        """One instance's monthly cost (hourly x 730); a service pays it x replicas."""
        return self.hourly_cost_usd * HOURS_PER_MONTH

    @property
    def placement(self) -> Placement:
        return Placement(provider=self.provider, region=self.region)


class Weights(_Strict):
    """Scoring weights. Each in [0, 1]; they must sum to 1."""

    cost: float = Field(default=0.40, ge=0, le=1)
    latency: float = Field(default=0.25, ge=0, le=1)
    credits: float = Field(default=0.20, ge=0, le=1)
    availability: float = Field(default=0.15, ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> Weights:
        total = self.cost + self.latency + self.credits + self.availability
        if abs(total - 1.0) > 1e-6:
            raise ValueError(
                f"weights must sum to 1, these sum to {total:.4f} "
                f"(cost={self.cost}, latency={self.latency}, credits={self.credits}, "
                f"availability={self.availability})"
            )
        return self

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.cost, self.latency, self.credits, self.availability)


FACTORS: tuple[str, ...] = ("cost", "latency", "credits", "availability")
