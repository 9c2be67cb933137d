"""Response schemas of ``GET /credits`` (the credit ledger: ``telemetry/ledger.py``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProviderCreditsOut(_Out):
    provider: str
    balance_usd: float = Field(ge=0, description="Usable balance now (the active grants' sum).")
    burn_usd_per_day: float = Field(
        ge=0, description="What the services placed on the provider cost per day (last hour of intervals)."
    )
    credit_usd_per_day: float = Field(ge=0, description="Credit applied per day over the same span.")
    next_expiry: datetime | None = Field(description="Soonest expiry among the provider's active grants.")
    runs_out_at: datetime | None = Field(description="When the balance reaches 0 at the current burn rate.")
    expires_first: bool = Field(description="The next expiry comes first: part of the balance lapses unused.")


class GrantOut(_Out):
    name: str
    provider: str
    account: str | None
    amount_usd: float = Field(ge=0)
    starts_at: datetime
    expires_at: datetime | None
    refill_usd: float = Field(ge=0)
    refill_every_days: float | None
    balance_usd: float = Field(ge=0)
    status: str = Field(description="pending, active or expired.")


class CreditsOut(_Out):
    source: str = Field(description="The ledger file (SWEN_CREDITS_FILE) or the packaged default.")
    interval_s: float = Field(description="Platform-clock seconds per burn interval.")
    started_at: datetime | None = Field(
        description="The ledger's first interval; null before the engine starts it."
    )
    through: datetime | None = Field(description="End of the newest burnt interval (platform clock).")
    intervals: int = Field(ge=0, description="Burn intervals recorded.")
    providers: list[ProviderCreditsOut]
    grants: list[GrantOut]
