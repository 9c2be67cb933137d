"""Typed provider registry.

Each provider declares its capabilities and a reason for every gap. The registry refuses duplicates
and lists the valid names on a bad lookup.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from swen.domain.errors import InvalidInputError


class ProviderInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    display_name: str
    simulated_prices: bool
    """True when prices are synthetic (Alibaba Cloud in this release); shown wherever a price is shown."""
    price_note: str
    terraform_provider: str
    gpu_models: tuple[str, ...]
    gaps: dict[str, str] = {}
    """Capability -> why it is missing."""


class ProviderRegistry:
    def __init__(self) -> None:
        self._providers: dict[str, ProviderInfo] = {}

    def register(self, info: ProviderInfo) -> None:
        if info.name in self._providers:
            raise InvalidInputError(f"provider {info.name!r} is already registered")
        self._providers[info.name] = info

    def get(self, name: str) -> ProviderInfo:
        try:
            return self._providers[name]
        except KeyError:
            raise InvalidInputError(
                f"unknown provider {name!r}", hint=f"valid providers: {', '.join(sorted(self._providers))}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._providers)

    def choices(self) -> str:
        """The providers as a user should read them: in registration order (aws first), comma-separated."""
        return ", ".join(self._providers)

    def undeployable(self) -> dict[str, str]:
        """Providers the platform cannot apply placements on, with the reason (scored, never chosen)."""
        return {
            name: info.gaps["terraform_module"]
            for name, info in sorted(self._providers.items())
            if "terraform_module" in info.gaps
        }

    def __contains__(self, name: object) -> bool:
        return name in self._providers


PROVIDERS = ProviderRegistry()
PROVIDERS.register(
    ProviderInfo(
        name="aws",
        display_name="Amazon Web Services",
        simulated_prices=False,
        price_note="AWS on-demand list price (SkyPilot catalog)",
        terraform_provider="hashicorp/aws",
        gpu_models=("T4", "A10G", "V100", "A100", "H100"),
    )
)
PROVIDERS.register(
    ProviderInfo(
        name="alibaba",
        display_name="Alibaba Cloud",
        simulated_prices=True,
        price_note="SIMULATED: synthetic Alibaba price derived from an AWS price (no published price found)",
        terraform_provider="aliyun/alicloud",
        gpu_models=("T4", "A10", "V100", "A100"),
        gaps={"published_prices": "no published pay-as-you-go price was found; prices are synthetic"},
    )
)
PROVIDERS.register(
    ProviderInfo(
        name="gcp",
        display_name="Google Cloud",
        simulated_prices=False,
        price_note="GCP on-demand price as published in the SkyPilot catalog",
        terraform_provider="hashicorp/google",
        gpu_models=("T4", "L4", "A100", "H100"),
        gaps={
            "terraform_module": "no GCP Terraform module ships in this release; GCP is scored, not applied"
        },
    )
)
