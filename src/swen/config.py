"""Typed settings: every SWEN_* environment variable is declared here and nowhere else.

Settings come from, highest priority first:

1. arguments (``load_settings(home=...)``, command-line options);
2. ``SWEN_*`` environment variables (``SWEN_SIM_SPEED=4``; JSON for ``weights``, ``cors_origins`` and
   ``notify_urls``);
3. a settings file in YAML: the file named by ``SWEN_CONFIG``, else ``$SWEN_HOME/swen.yaml`` when it
   exists (``./var/swen.yaml`` without SWEN_HOME). Its keys are the field names below, without the
   prefix, in lower case, e.g.::

       sim_speed: 4
       engine_interval_s: 10
       min_confidence: 0.8
       weights: {cost: 0.4, latency: 0.25, credits: 0.2, availability: 0.15}

   The same ``Settings`` model validates it: an unknown key or a bad value is a one-line ConfigError
   naming the file and the field. ``home`` may be set only in a file named by ``SWEN_CONFIG`` (the
   default file is found through the home). Relative paths are relative to the working directory;
4. the defaults below.

Every process of one platform (``swen up``'s children, ``swen explain`` in another shell) reads the
same file, so they agree without exporting the same variables everywhere.

Nothing heavy is created at import time; call ``load_settings()`` (or construct ``Settings``) once
and pass it down.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from swen.domain.errors import ConfigError
from swen.domain.models import Weights
from swen.domain.safe_yaml import read_yaml

_REPO_PATH_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.+-]*(/[A-Za-z0-9_.][A-Za-z0-9_.+-]*)*$")
_HCL_IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_BRANCH_PREFIX_RE = re.compile(r"^([a-z0-9][a-z0-9-]{0,30}/){0,3}$")
_GITHUB_REPOSITORY_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


def _repo_path(value: str) -> str:
    """A path inside the infra repository: relative, POSIX, no ``..``, no ``.`` segments, safe characters."""
    value = str(value).strip()
    parts = value.split("/")
    if not _REPO_PATH_RE.fullmatch(value) or any(p in {".", ".."} for p in parts) or len(value) > 255:
        raise ValueError(
            f"{value!r} is not a path inside the infra repository: use a relative POSIX path of letters, "
            "digits, '_', '.', '+' and '-' without '..' (e.g. envs/prod/terraform.tfvars)"
        )
    return value


def _tfvars_path(value: str) -> str:
    value = _repo_path(value)
    if not value.endswith(".tfvars"):
        raise ValueError(f"{value!r} must be a .tfvars file (HCL, which SWEN edits in place)")
    return value


def _apprise_urls(values: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
    """Each notification URL must be one apprise understands; the error names its position and scheme only
    (the rest of the URL may be a secret)."""
    if not values:
        return values
    for index, secret in enumerate(values):
        url = secret.get_secret_value().strip()
        if apprise_target(url) is None:
            scheme = url.split("://", 1)[0] if "://" in url else ""
            shown = (
                f"scheme {scheme!r}" if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,31}", scheme) else "no scheme"
            )
            raise ValueError(
                f"entry {index} ({shown}) is not an apprise URL: use one of apprise's schemes with its "
                "parts, e.g. slack://T000/B000/XXXX, mailtos://user:password@example.com, "
                "json://host:port/path (see https://github.com/caronc/apprise/wiki)"
            )
    return values


class _AppriseQuiet(logging.Filter):
    """Drops apprise's log records while this thread parses or uses a URL: they can quote its tokens."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.local, "active", False)


_APPRISE_QUIET = _AppriseQuiet()


@contextmanager
def quiet_apprise() -> Iterator[None]:
    """Silence apprise's own logging in this thread (the caller logs the masked outcome once)."""
    logger = logging.getLogger("apprise")
    if _APPRISE_QUIET not in logger.filters:
        logger.addFilter(_APPRISE_QUIET)
    _APPRISE_QUIET.local.active = True
    try:
        yield
    finally:
        _APPRISE_QUIET.local.active = False


def apprise_target(url: str) -> Any:
    """The apprise plugin for ``url``, or None when apprise does not understand it (nothing is logged)."""
    import apprise  # only when notifications are configured: it loads its plugins

    with quiet_apprise():
        return apprise.Apprise.instantiate(url, suppress_exceptions=True)


_SLACK_HOOK_RE = re.compile(
    r"^https://hooks\.slack\.com/services/([A-Za-z0-9]+)/([A-Za-z0-9]+)/([A-Za-z0-9]+)/?$"
)


def slack_apprise_url(webhook: str) -> str:
    """The old ``slack_webhook_url`` (https://hooks.slack.com/services/T/B/C) as apprise's slack://T/B/C."""
    found = _SLACK_HOOK_RE.fullmatch(webhook.strip())
    if found is None:
        raise ValueError(
            "is not a Slack incoming-webhook URL (https://hooks.slack.com/services/T.../B.../...): for "
            "another receiver set SWEN_NOTIFY_URLS to its apprise URL (mmost://, json://, ...) instead"
        )
    return "slack://{}/{}/{}".format(*found.groups())


def _slack_webhook(value: SecretStr | None) -> SecretStr | None:
    if value is not None and apprise_target(slack_apprise_url(value.get_secret_value())) is None:
        raise ValueError("is not a Slack incoming-webhook URL apprise accepts (check its three tokens)")
    return value


def _hcl_identifier(value: str) -> str:
    if not _HCL_IDENTIFIER_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a Terraform variable name: start with a letter or '_', then letters, digits, "
            "'_' or '-' (at most 64 characters)"
        )
    return value


def _branch_prefix(value: str) -> str:
    if not _BRANCH_PREFIX_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a branch prefix: use up to three lowercase segments each ending in '/', "
            "e.g. 'swen/' or 'bots/swen/' (empty for none)"
        )
    return value


def _github_repository(value: str) -> str:
    value = str(value).strip()
    if not _GITHUB_REPOSITORY_RE.fullmatch(value) or value.split("/")[1] in {".", ".."}:
        raise ValueError(
            f"{value!r} is not a GitHub repository: use owner/name, e.g. platform/infra (owner: letters, "
            "digits and '-'; name: letters, digits, '.', '_' and '-')"
        )
    return value


def _http_url(value: str) -> str:
    value = str(value).strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(
            f"{value!r} is not an API base URL: use http(s)://host[/path], e.g. https://api.github.com or "
            "https://github.example.com/api/v3 for GitHub Enterprise"
        )
    return value


RepoPath = Annotated[str, AfterValidator(_repo_path)]
"""A relative path inside the infra repository (validated: no absolute path, no ``..``)."""
TfvarsPath = Annotated[str, AfterValidator(_tfvars_path)]
HclIdentifier = Annotated[str, AfterValidator(_hcl_identifier)]
BranchPrefix = Annotated[str, AfterValidator(_branch_prefix)]
GitHubRepository = Annotated[str, AfterValidator(_github_repository)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]


# --- telemetry at scale: archive location (issue 12, "PostgreSQL at scale") ------------------------
_ARCHIVE_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_ARCHIVE_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.=-]+(/[A-Za-z0-9_.=-]+)*$")


def _archive_url(value: str) -> str:
    """``file:///absolute/folder`` or ``s3://bucket[/prefix]`` (no query, no ``..``), trailing / dropped."""
    value = str(value).strip().rstrip("/")
    parts = urlsplit(value)
    fix = "use file:///absolute/folder or s3://bucket/prefix"
    if parts.query or parts.fragment or ".." in value.split("/"):
        raise ValueError(f"{value!r} is not an archive URL: {fix} (no query, fragment or '..')")
    if parts.scheme == "file":
        if parts.netloc or not parts.path.startswith("/"):
            raise ValueError(f"{value!r} is not an archive URL: {fix} (an absolute path after file://)")
        return value
    if parts.scheme == "s3":
        prefix = parts.path.strip("/")
        if not _ARCHIVE_BUCKET_RE.fullmatch(parts.netloc) or (
            prefix and not _ARCHIVE_PREFIX_RE.fullmatch(prefix)
        ):
            raise ValueError(
                f"{value!r} is not an archive URL: {fix} (bucket: 3-63 lower-case letters, digits, dots, "
                "hyphens; prefix: letters, digits, _ . = - separated by /)"
            )
        return value
    raise ValueError(f"{value!r} is not an archive URL: {fix}")


ArchiveUrl = Annotated[str, AfterValidator(_archive_url)]

_PROM_LABEL_RE = r"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$"
_PROM_METRIC_RE = r"^[a-zA-Z_:][a-zA-Z0-9_:]{0,127}$"
_PROM_MATCHER_RE = r'^[a-zA-Z_][a-zA-Z0-9_]{0,63}(=|!=|=~|!~)"[^"\\{}]{0,128}"$'
_PROM_DURATION_RE = r"^[1-9][0-9]{0,5}(ms|s|m|h|d)$"


class PrometheusLabels(BaseModel):
    """Which label of the team's series names the service, the provider, the region (and, on the cost
    series, the instance type)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str = Field(default="service", pattern=_PROM_LABEL_RE)
    provider: str = Field(default="provider", pattern=_PROM_LABEL_RE)
    region: str = Field(default="region", pattern=_PROM_LABEL_RE)
    instance_type: str = Field(default="instance_type", pattern=_PROM_LABEL_RE)


class PrometheusMetrics(BaseModel):
    """The series SWEN reads (see docs/OPERATIONS.md, "Telemetry from Prometheus")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_histogram: str = Field(default="http_request_duration_seconds", pattern=_PROM_METRIC_RE)
    """A histogram in seconds (``<name>_bucket``): p95 latency by histogram_quantile."""
    requests_total: str = Field(default="http_requests_total", pattern=_PROM_METRIC_RE)
    error_matcher: str = Field(default='code=~"5.."', pattern=_PROM_MATCHER_RE)
    """Selects the failed requests of ``requests_total`` (error rate = their share)."""
    availability: str = Field(default="swen_availability_ratio", pattern=_PROM_METRIC_RE)
    hourly_cost: str = Field(default="swen_hourly_cost_usd", pattern=_PROM_METRIC_RE)
    credits: str = Field(default="swen_credits_usd", pattern=_PROM_METRIC_RE)
    """Unused credit balance per provider (only the provider label is read)."""
    gpu_availability: str = Field(default="swen_gpu_availability_ratio", pattern=_PROM_METRIC_RE)


class PrometheusSettings(BaseModel):
    """Where the Prometheus telemetry source reads (``telemetry_source: prometheus``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    window: str = Field(
        default="5m", pattern=_PROM_DURATION_RE, description="Range of rate() and *_over_time()."
    )
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    labels: PrometheusLabels = Field(default_factory=PrometheusLabels)
    metrics: PrometheusMetrics = Field(default_factory=PrometheusMetrics)


def _distinct_ports(ports: tuple[int, ...]) -> tuple[int, ...]:
    if len(set(ports)) != len(ports):
        raise ValueError(f"names a port twice: {', '.join(map(str, ports))}")
    return ports


Port = Annotated[int, Field(ge=1, le=65535)]


class RehearsalSettings(BaseModel):
    """Loopback ports of ``swen up --production``, the production topology rehearsed on one machine
    (haproxy listens on ``api_host:api_port``, the dashboard on ``dashboard_port``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_ports: Annotated[tuple[Port, ...], AfterValidator(_distinct_ports)] = Field(
        default=(8001, 8002, 8003), min_length=1, max_length=9, description="One API replica per port."
    )
    engines: int = Field(default=2, ge=1, le=4, description="Engine replicas (they elect one leader).")
    postgres_port: Port = Field(
        default=5433, description="The private PostgreSQL cluster (unused when database_url is set)."
    )
    prometheus_port: Port = 9090
    alertmanager_port: Port = 9093


CONFIG_FILE_NAME = "swen.yaml"
"""The settings file looked for in $SWEN_HOME when SWEN_CONFIG is not set."""
DEFAULT_HOME = Path("./var")


class Settings(BaseSettings):
    # allow_inf_nan=False: "inf"/"nan" in a float setting (a threshold, a retention) are refused.
    model_config = SettingsConfigDict(env_prefix="SWEN_", extra="ignore", frozen=True, allow_inf_nan=False)

    # --- state -------------------------------------------------------------------------------
    home: Path = Field(default=DEFAULT_HOME, description="Directory holding all state (SWEN_HOME).")
    config: Path | None = Field(
        default=None, description="Settings file (SWEN_CONFIG); default $SWEN_HOME/swen.yaml if present."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///$SWEN_HOME/swen.db (WAL mode)."
    )
    fleet_file: Path | None = Field(default=None, description="Fleet YAML; default: the packaged fleet.")
    telemetry_retention_days: float = Field(default=30.0, gt=0)
    debug: bool = False

    # --- telemetry at scale: partitions, rollups, retention, archives --------------------------
    # (store/partitions.py, store/rollups.py, store/archive.py, store/maintenance.py)
    telemetry_partition_ahead_days: int = Field(
        default=3, ge=1, le=60, description="PostgreSQL: daily telemetry partitions created this far ahead."
    )
    telemetry_rollup_retention_days: float = Field(
        default=400.0, gt=0, description="Hourly rollups (the 30-day views) are kept this long."
    )
    telemetry_delete_batch: int = Field(
        default=50_000, ge=100, le=10_000_000, description="SQLite retention: rows deleted per transaction."
    )
    archive_url: ArchiveUrl | None = Field(
        default=None,
        description="Where expired telemetry days go as Parquet before they are dropped: file:///folder or "
        "s3://bucket/prefix; default file://$SWEN_HOME/archives.",
    )
    archive_endpoint_url: HttpUrl | None = Field(
        default=None, description="S3-compatible endpoint for s3:// archives (default: AWS)."
    )
    archive_enabled: bool = Field(
        default=True, description="Archive an expired day before dropping it (off: drop without a copy)."
    )

    # --- simulator ---------------------------------------------------------------------------
    sim_interval_s: float = Field(default=5.0, gt=0, description="Simulated seconds between samples.")
    sim_speed: float = Field(default=1.0, gt=0, description="Accelerated clock: simulated s per wall s.")
    seed: int = 42
    scenario_file: Path | None = None
    telemetry_source: Literal["simulator", "prometheus"] = Field(
        default="simulator", description="Where telemetry comes from: the simulator, or `prometheus`."
    )
    prometheus: PrometheusSettings = Field(default_factory=PrometheusSettings)

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
    review_cost_usd: float = Field(
        default=100.0,
        ge=0,
        le=100_000,
        description="What one person's review of a move costs, in USD (default: about 40 minutes of a "
        "platform engineer at a loaded $150/hour). A move the gate could auto-approve but whose "
        "confidence is short of the gate's bar goes to a person after a week only when holding it "
        "would lose more than this over its advantage's expected remaining days; else the engine holds "
        "it (docs/ENGINE.md). 0: every such move goes to a person after the week.",
    )
    auto_propose_confidence: float = Field(
        default=0.85,
        ge=0.85,
        lt=1,
        description="The engine's bar for proposing a move the policy gate would auto-approve (at least "
        "the gate's 0.85, the default). Between 0.85 and this bar such a move is held for stronger "
        "evidence, and its explanation says so. Measured at 0.90 and 0.92 on the shipped scenarios: "
        "the share of auto-approved moves paying back did not rise where it fell short, fewer moves "
        "were auto-approved and less was saved (docs/BENCHMARKS.md, section netpos).",
    )
    auto_min_evidence: float = Field(
        default=5.0,
        ge=0,
        le=50,
        description="The evidence a move the policy gate would auto-approve needs before the engine "
        "proposes it: how many standard errors its smoothed price advantage stands clear of zero (the "
        "engine picks the best of many noisy candidates; noise alone puts a few 4 clear). Short of it "
        "the move is held for stronger evidence (docs/ENGINE.md). 0: off.",
    )
    max_repair_cost_pct: float = Field(
        default=150.0,
        ge=0,
        le=10_000,
        description="The cap on an SLO repair's extra cost, in percent of the current monthly cost. A "
        "service whose current placement breaks its latency SLO is moved to the best candidate that "
        "meets it even when that costs more, up to this cost delta (a person reviews every repair that "
        "costs 5 % more or above, as the gate rules); a dearer repair is not proposed and the decision "
        "names the cap (docs/ENGINE.md).",
    )
    slo_holddown_s: float = Field(
        default=30 * 86400.0,
        ge=0,
        description="After an SLO repair, the placement the service left is not proposed again (except in "
        "an emergency) for this long, in seconds of the platform clock (default 30 days): flap damping "
        "for a placement whose latency swings around the SLO. 0: no hold-down.",
    )
    stale_after_s: float = Field(default=120.0, gt=0, description="Samples older than this are stale.")
    verify_samples: int = Field(default=3, ge=1, description="Healthy samples needed to verify a move.")
    leader_election: bool | None = Field(
        default=None,
        description="Engines elect one leader through the store (default: on with PostgreSQL, where "
        "replicas share the database; off with SQLite, where the per-home lock keeps one engine).",
    )
    leader_lease_s: float = Field(
        default=3.0,
        ge=0.5,
        le=60,
        description="Engine lease: a standby takes over this long after "
        "the leader stops renewing it (failover time is about this plus half a second).",
    )

    # --- gitops / pipeline -------------------------------------------------------------------
    infra_repo: Path | None = Field(default=None, description="Infra repo; default $SWEN_HOME/infra.")
    infra_remote: str | None = Field(default=None, description="Remote URL; default $SWEN_HOME/origin.git")
    terraform_root: RepoPath = Field(
        default="infra/envs/sim",
        description="The Terraform root SWEN plans and applies, relative to the infra repository. It must "
        'declare `backend "local" {}` (SWEN keeps its state under $SWEN_HOME/tfstate) and an output '
        "`placements` (service => {provider, region}).",
    )
    terraform_extra_roots: tuple[RepoPath, ...] = Field(
        default=(),
        max_length=8,
        description="More roots that read the same placement file, planned and applied after "
        'terraform_root (e.g. a DR region); each declares backend "local" {} like terraform_root.',
    )
    placements_file: TfvarsPath = Field(
        default="infra/terraform.tfvars",
        description="The tfvars file holding the placement map, relative to the infra repository.",
    )
    placements_variable: HclIdentifier = Field(
        default="service_placement",
        description="The variable of placements_file that maps service => placement.",
    )
    branch_prefix: BranchPrefix = Field(
        default="", description="Put in front of every SWEN branch, e.g. 'swen/' -> swen/ai-rec/service-2-..."
    )
    mr_host: Literal["local", "gitlab", "github"] = "local"
    gitlab_url: str | None = None
    gitlab_token: SecretStr | None = None
    gitlab_project: str | None = None
    github_repository: GitHubRepository | None = Field(
        default=None, description="The infra repository on GitHub as owner/name (mr_host: github)."
    )
    github_token: SecretStr | None = Field(
        default=None, description="Token with pull requests: write on the repository (SWEN_GITHUB_TOKEN)."
    )
    github_api_url: HttpUrl = Field(
        default="https://api.github.com",
        description="GitHub's REST API base URL; https://HOST/api/v3 for GitHub Enterprise Server.",
    )
    gitlab_webhook_secret: SecretStr | None = None
    notify_urls: Annotated[tuple[SecretStr, ...], AfterValidator(_apprise_urls)] = Field(
        default=(),
        description="Where notifications go: apprise URLs (slack://, msteams://, workflows://, mailtos://, "
        "json://, ...); SWEN_NOTIFY_URLS takes a JSON list. They carry secrets and are never printed.",
    )
    slack_webhook_url: Annotated[SecretStr | None, AfterValidator(_slack_webhook)] = Field(
        default=None,
        description="Deprecated: a https://hooks.slack.com/services/... webhook, sent as apprise's "
        "slack:// URL.",
    )
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
    api_max_staleness_s: float = Field(
        default=0.25,
        ge=0,
        le=60,
        description=(
            "PostgreSQL: a cached API read reflects every write that committed at least this long "
            "before the request (learnt from notifications, see store/versions.py); 0 asks the "
            "database on every request."
        ),
    )
    cors_origins: tuple[str, ...] = ()
    alert_token: SecretStr | None = Field(default=None, description="Bearer token Alertmanager sends.")
    dashboard_host: str = "127.0.0.1"
    dashboard_port: int = Field(default=8501, ge=1, le=65535)
    dashboard_refresh_s: float = Field(default=10.0, gt=0)
    access_log: bool = Field(default=False, description="Log every API request (uvicorn's access log).")

    rehearsal: RehearsalSettings = Field(
        default_factory=RehearsalSettings,
        description="Ports of `swen up --production` (SWEN_REHEARSAL, JSON).",
    )

    # --- credit ledger -----------------------------------------------------------------------
    credits_file: Path | None = Field(
        default=None, description="Credit ledger YAML (grants, expiry, refills); default: the packaged one."
    )
    credits_interval_s: float = Field(
        default=300.0,
        ge=1,
        le=86400,
        description="Platform-clock seconds per credit burn interval (one burn recorded per interval).",
    )

    # --- action queue (issue 12: acting at scale; swen.moves.queue) ---------------------------
    action_workers: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Workers of the leader engine that carry queued moves out (git, MR, pipeline).",
    )
    action_lease_s: float = Field(
        default=900.0,
        gt=0,
        description="A claimed action is claimable again this long after its claim (a crashed worker).",
    )
    budget_fleet_mrs: int = Field(default=20, ge=1, description="Most open move MRs in the fleet.")
    budget_fleet_applies: int = Field(default=5, ge=1, description="Most moves in flight in the fleet.")
    budget_provider_mrs: int = Field(default=10, ge=1, description="Most open move MRs per provider.")
    budget_provider_applies: int = Field(default=3, ge=1, description="Most moves in flight per provider.")

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

    @model_validator(mode="after")
    def _github_complete(self) -> Settings:
        if self.mr_host == "github" and not (self.github_repository and self.github_token):
            raise ValueError(
                "SWEN_MR_HOST=github needs SWEN_GITHUB_REPOSITORY (owner/name) and SWEN_GITHUB_TOKEN"
            )
        return self

    @model_validator(mode="after")
    def _roots_distinct(self) -> Settings:
        roots = [self.terraform_root, *self.terraform_extra_roots]
        if len(set(roots)) != len(roots):
            raise ValueError(
                f"terraform_root and terraform_extra_roots name a root twice: {', '.join(roots)}"
            )
        return self

    @model_validator(mode="after")
    def _prometheus_complete(self) -> Settings:
        if self.telemetry_source == "prometheus" and not self.prometheus.url:
            raise ValueError("telemetry_source prometheus needs prometheus.url (e.g. http://prometheus:9090)")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # arguments, then the environment, then the settings file (see the module docstring)
        return init_settings, env_settings, _SettingsFile(settings_cls, init_settings), file_secret_settings

    @property
    def home_is_default(self) -> bool:
        """True when no argument, SWEN_HOME or settings file chose the state directory."""
        return "home" not in self.model_fields_set

    @property
    def settings_file(self) -> Path | None:
        """The settings file these settings read (None: there is none)."""
        return settings_file_path(self.config, self.home)

    # --- derived paths -----------------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'swen.db').resolve()}"

    @property
    def resolved_archive_url(self) -> str:
        """The telemetry archive: ``archive_url``, else ``file://$SWEN_HOME/archives``."""
        return self.archive_url or (self.home / "archives").resolve().as_uri()

    @property
    def elects_leader(self) -> bool:
        """Whether engines elect a leader (``leader_election``, default: on for PostgreSQL)."""
        if self.leader_election is not None:
            return self.leader_election
        return not self.resolved_database_url.startswith("sqlite")

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
    def notification_urls(self) -> tuple[str, ...]:
        """The apprise URLs notifications go to: notify_urls, then the old Slack webhook translated."""
        urls = [u.get_secret_value().strip() for u in self.notify_urls]
        if self.slack_webhook_url is not None:
            urls.append(slack_apprise_url(self.slack_webhook_url.get_secret_value()))
        return tuple(dict.fromkeys(urls))

    @property
    def resolved_api_url(self) -> str:
        return self.api_url or f"http://{self.api_host}:{self.api_port}"


def settings_file_path(config: Path | str | None, home: Path | str | None) -> Path | None:
    """The settings file: ``config`` (SWEN_CONFIG) if given, else ``home``/swen.yaml when it exists."""
    if config is not None and str(config) != "":
        return Path(config)
    candidate = Path(home if home is not None and str(home) != "" else DEFAULT_HOME) / CONFIG_FILE_NAME
    return candidate if candidate.is_file() else None


class _SettingsFile(PydanticBaseSettingsSource):
    """The YAML settings file as a pydantic-settings source (below the environment)."""

    def __init__(self, settings_cls: type[BaseSettings], init: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self._init = init.init_kwargs if isinstance(init, InitSettingsSource) else {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the whole file at once

    def __call__(self) -> dict[str, Any]:
        config = self._init.get("config", os.environ.get("SWEN_CONFIG"))
        home = self._init.get("home", os.environ.get("SWEN_HOME"))
        path = settings_file_path(config, home)
        return {} if path is None else read_settings_file(path, named=config is not None)


def read_settings_file(path: Path, *, named: bool = True) -> dict[str, Any]:
    """The settings in ``path`` as a mapping of field names; ConfigError naming the file otherwise.

    ``named``: the file was named by SWEN_CONFIG (only such a file may set ``home``)."""
    label = str(path)
    if not path.is_file():
        raise ConfigError(
            "the settings file does not exist" if not path.exists() else "the settings path is not a file",
            hint="fix SWEN_CONFIG, or unset it to read $SWEN_HOME/swen.yaml",
            source=label,
        )
    data = read_yaml(path, label)
    if data is None:
        return {}  # an empty file sets nothing
    if not isinstance(data, dict):
        raise ConfigError(
            f"the settings file must be a mapping of setting: value, not {type(data).__name__}",
            hint="write one 'name: value' per line, e.g. 'sim_speed: 4'",
            source=label,
        )
    known = set(Settings.model_fields) - {"config"}
    for key in data:
        if not isinstance(key, str) or key not in known:
            close = difflib.get_close_matches(str(key).lower().removeprefix("swen_"), sorted(known), n=1)
            raise ConfigError(
                f"unknown setting {str(key)!r}",
                hint=f"did you mean {close[0]!r}?" if close else "see the fields of swen.config.Settings",
                source=label,
            )
    if "home" in data and not named:
        raise ConfigError(
            "home: this file is found through the state directory, so it cannot move it",
            hint="set home in a file named by SWEN_CONFIG, or set SWEN_HOME",
            source=label,
        )
    return data


_JSON_SETTINGS = {
    "weights": 'a JSON object, e.g. {"cost": 0.4, "latency": 0.25, "credits": 0.2, "availability": 0.15}',
    "cors_origins": 'a JSON list of origins, e.g. ["https://dashboard.example.com"]',
    "notify_urls": 'a JSON list of apprise URLs, e.g. ["slack://T000/B000/XXXX", "json://hooks.example.com/swen"]',
    "prometheus": 'a JSON object, e.g. {"url": "http://prometheus:9090", "window": "5m"}',
    "rehearsal": 'a JSON object, e.g. {"api_ports": [8001, 8002, 8003], "postgres_port": 5433}',
}
"""Settings read from the environment as JSON, with the format each expects."""
_SETTINGS_FIELD = re.compile(r'field "([a-z0-9_]+)"')


def load_settings(**overrides: object) -> Settings:
    """Build settings from overrides, the environment and the settings file; bad values become a
    ConfigError naming the variable, or the file and the field."""
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
        top = field.split(".")[0]
        if not err["loc"]:  # a rule across settings (e.g. one that needs another): the message names them
            raise ConfigError(
                str(err["msg"]).removeprefix("Value error, "),
                hint="set the settings it names (SWEN_* variables or swen.yaml)",
            ) from None
        from_file = _from_file(top, overrides)
        if from_file is not None:
            raise ConfigError(
                f"setting {field}: {err['msg']}", hint=f"fix {top} in this file", source=str(from_file)
            ) from None
        raise ConfigError(
            f"setting {field}: {err['msg']}",
            hint=f"fix SWEN_{top.upper()} in the environment",
        ) from None


def _from_file(field: str, overrides: dict[str, object]) -> Path | None:
    """The settings file that set ``field`` (None: an argument or the environment set it)."""
    if field in overrides or f"SWEN_{field.upper()}" in {k.upper() for k in os.environ}:
        return None
    config = overrides.get("config", os.environ.get("SWEN_CONFIG"))
    home = overrides.get("home", os.environ.get("SWEN_HOME"))
    path = settings_file_path(config if isinstance(config, Path | str) else None,
                              home if isinstance(home, Path | str) else None)  # fmt: skip
    try:
        return path if path is not None and field in read_settings_file(path) else None
    except ConfigError:
        return None
