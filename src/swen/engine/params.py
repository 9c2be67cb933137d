"""Engine tunables, validated once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from swen.domain.models import Weights
from swen.engine.confidence import MARGIN_SCALE

if TYPE_CHECKING:  # the engine depends on the domain only; settings are read, not imported
    from swen.config import Settings


class EngineParams(BaseModel):
    """Tunables of the engine (validated; build from Settings with :meth:`from_settings`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    weights: Weights = Field(default_factory=Weights)
    min_confidence: float = Field(default=0.70, ge=0, le=1)
    min_savings_usd: float = Field(default=50.0, ge=0)
    cooldown_s: float = Field(default=3600.0, ge=0)
    amortisation_months: float = Field(default=6.0, gt=0)
    availability_floor: float = Field(default=0.90, ge=0, le=1)
    gpu_availability_floor: float = Field(default=0.20, ge=0, le=1)
    stale_after_s: float = Field(default=120.0, gt=0)
    stability_window: int = Field(default=10, ge=1, le=1000)
    margin_scale: float = Field(default=MARGIN_SCALE, gt=0)
    auto_emergency: bool = True
    """Treat a current placement below the availability floor (or quarantined) as an emergency."""

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineParams:
        return cls(
            weights=settings.weights,
            min_confidence=settings.min_confidence,
            min_savings_usd=settings.min_savings_usd,
            cooldown_s=settings.cooldown_s,
            amortisation_months=settings.amortisation_months,
            availability_floor=settings.availability_floor,
            gpu_availability_floor=settings.gpu_availability_floor,
            stale_after_s=settings.stale_after_s,
            stability_window=settings.window_size,
        )
