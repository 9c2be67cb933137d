"""Typed settings: every SWEN_* environment variable is declared here and nowhere else.

Nothing heavy is created at import time; call ``load_settings()`` (or construct ``Settings``) once
and pass it down.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from swen.domain.errors import ConfigError
from swen.domain.models import Weights


class Settings(BaseSettings):
    # allow_inf_nan=False: "inf"/"nan" in a float setting (a threshold, a retention) are refused.
    model_config = SettingsConfigDict(env_prefix="SWEN_", extra="ignore", frozen=True, allow_inf_nan=False)

    # --- state -------------------------------------------------------------------------------
    home: Path = Field(default=Path("./var"), description="Directory holding all state (SWEN_HOME).")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///$SWEN_HOME/swen.db (WAL mode)."
    )
    fleet_file: Path | None = Field(default=None, description="Fleet YAML; default: the packaged fleet.")
    telemetry_retention_days: float = Field(default=30.0, gt=0)
    debug: bool = False

    # --- simulator ---------------------------------------------------------------------------
    sim_interval_s: float = Field(default=5.0, gt=0, description="Simulated seconds between samples.")
    sim_speed: float = Field(default=1.0, gt=0, description="Accelerated clock: simulated s per wall s.")
    seed: int = 42
    scenario_file: Path | None = None

    # --- engine ------------------------------------------------------------------------------
    engine_interval_s: float = Field(default=30.0, gt=0)
    weights: Weights = Field(default_factory=Weights)
    min_confidence: float = Field(default=0.70, ge=0, le=1)
    min_savings_usd: float = Field(default=50.0, ge=0)
    cooldown_s: float = Field(default=3600.0, ge=0, description="Hold after a service moved (sim time).")
    window_size: int = Field(default=10, ge=1, le=1000, description="Cycles kept for stability.")
    availability_floor: float = Field(default=0.90, ge=0, le=1)
    gpu_availability_floor: float = Field(default=0.20, ge=0, le=1)
    amortisation_months: float = Field(default=6.0, gt=0)
    stale_after_s: float = Field(default=120.0, gt=0, description="Samples older than this are stale.")
    verify_samples: int = Field(default=3, ge=1, description="Healthy samples needed to verify a move.")

    # --- gitops / pipeline -------------------------------------------------------------------
    infra_repo: Path | None = Field(default=None, description="Infra repo; default $SWEN_HOME/infra.")
    infra_remote: str | None = Field(default=None, description="Remote URL; default $SWEN_HOME/origin.git")
    mr_host: Literal["local", "gitlab"] = "local"
    gitlab_url: str | None = None
    gitlab_token: SecretStr | None = None
    gitlab_project: str | None = None
    gitlab_webhook_secret: SecretStr | None = None
    slack_webhook_url: str | None = None
    terraform_bin: str = "terraform"
    apply_lock_stale_s: float = Field(default=900.0, gt=0)

    # --- api / dashboard ---------------------------------------------------------------------
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_url: str | None = Field(default=None, description="Where the dashboard finds the API.")
    api_key: SecretStr | None = Field(default=None, description="Key the dashboard uses.")
    open_health_endpoints: bool = True
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    rate_limit_per_minute: int = Field(default=600, gt=0)
    cors_origins: tuple[str, ...] = ()
    alert_token: SecretStr | None = Field(default=None, description="Bearer token Alertmanager sends.")
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = Field(default=8501, ge=1, le=65535)
    dashboard_refresh_s: float = Field(default=10.0, gt=0)

    # --- self-healing ------------------------------------------------------------------------
    quarantine_s: float = Field(default=1800.0, ge=0)
    max_remediations_per_hour: int = Field(default=3, ge=1)

    @model_validator(mode="after")
    def _gitlab_complete(self) -> Settings:
        if self.mr_host == "gitlab" and not (self.gitlab_url and self.gitlab_token and self.gitlab_project):
            raise ValueError(
                "SWEN_MR_HOST=gitlab needs SWEN_GITLAB_URL, SWEN_GITLAB_TOKEN and SWEN_GITLAB_PROJECT"
            )
        return self

    # --- derived paths -----------------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'swen.db').resolve()}"

    @property
    def latest_telemetry_path(self) -> Path:
        return self.home / "latest_telemetry.json"

    @property
    def decisions_path(self) -> Path:
        return self.home / "ai_decisions.json"

    @property
    def infra_repo_path(self) -> Path:
        return (self.infra_repo or self.home / "infra").resolve()

    @property
    def infra_remote_url(self) -> str:
        return self.infra_remote or str((self.home / "origin.git").resolve())

    @property
    def resolved_api_url(self) -> str:
        return self.api_url or f"http://{self.api_host}:{self.api_port}"


_JSON_SETTINGS = {
    "weights": 'a JSON object, e.g. {"cost": 0.4, "latency": 0.25, "credits": 0.2, "availability": 0.15}',
    "cors_origins": 'a JSON list of origins, e.g. ["https://dashboard.example.com"]',
}
"""Settings read from the environment as JSON, with the format each expects."""
_SETTINGS_FIELD = re.compile(r'field "([a-z0-9_]+)"')


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment plus overrides; bad values become a ConfigError."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except SettingsError as exc:  # a JSON-valued variable that is not JSON (pydantic-settings parses it)
        found = _SETTINGS_FIELD.search(str(exc))
        field = found.group(1) if found else ""
        variable = f"SWEN_{field.upper()}" if field else "a SWEN_* variable"
        expected = _JSON_SETTINGS.get(field, "valid JSON")
        raise ConfigError(
            f"{variable} is not valid JSON; it must be {expected}",
            hint=f"fix {variable} in the environment",
        ) from None
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "settings"
        raise ConfigError(
            f"setting {field}: {err['msg']}",
            hint=f"fix SWEN_{field.split('.')[0].upper()} in the environment",
        ) from None
