"""Every table of the store, declared once. The Alembic migrations in ``migrations/`` create them.

Timestamps are timezone-aware UTC (``UtcDateTime``) on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone; this restores it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stamp: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if stamp.tzinfo is None:
            return stamp.replace(tzinfo=UTC)
        return stamp.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

services = Table(
    "services",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("spec", JSON, nullable=False),  # Service.model_dump(mode="json")
    Column("updated_at", UtcDateTime, nullable=False),
)

# The applied placement: where each service really runs (from Terraform state/outputs after apply).
placements = Table(
    "placements",
    metadata,
    Column("service", String(63), primary_key=True),
    Column("provider", String(63), nullable=False),
    Column("region", String(63), nullable=False),
    Column("decision_id", String(64), nullable=True),
    Column("applied_at", UtcDateTime, nullable=False),
)


def _sample_measurements() -> list[Column[Any]]:
    """What one telemetry sample measured, as columns of ``telemetry_samples`` and of
    ``telemetry_latest`` alike (new Column objects on every call: a column belongs to one table)."""
    return [
        Column("ts", UtcDateTime, nullable=False),
        Column("instance_type", String(64), nullable=False),
        Column("hourly_cost_usd", Float, nullable=False),
        Column("latency_ms", Float, nullable=False),
        Column("credits_usd", Float, nullable=False),
        Column("gpu_availability", Float, nullable=False),
        Column("availability", Float, nullable=False),
        Column("error_rate", Float, nullable=False),
        Column("simulated_price", Boolean, nullable=False, default=False),
    ]


telemetry_samples = Table(
    "telemetry_samples",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("service", String(63), nullable=False),
    Column("provider", String(63), nullable=False),
    Column("region", String(63), nullable=False),
    *_sample_measurements(),
    Index("ix_telemetry_service_ts", "service", "ts"),
    Index("ix_telemetry_ts", "ts"),
)

# The newest sample of every (service, provider, region), kept by Store.insert_samples in the same
# transaction as the samples, so "latest" reads a handful of rows instead of scanning the history.
telemetry_latest = Table(
    "telemetry_latest",
    metadata,
    Column("service", String(63), primary_key=True),
    Column("provider", String(63), primary_key=True),
    Column("region", String(63), primary_key=True),
    *_sample_measurements(),
)

# Hourly rollups of telemetry_samples per (service, provider, region, hour), written by
# store/rollups.py for every closed hour: sums (so any range of hours merges exactly into a mean),
# the nearest-rank p95 latency and the worst availability. The 30-day views read these instead of
# raw samples. On PostgreSQL telemetry_samples itself is partitioned by day (store/partitions.py).
telemetry_rollups = Table(
    "telemetry_rollups",
    metadata,
    Column("service", String(63), primary_key=True),
    Column("provider", String(63), primary_key=True),
    Column("region", String(63), primary_key=True),
    Column("hour", UtcDateTime, primary_key=True),
    Column("samples", Integer, nullable=False),
    Column("instance_type", String(64), nullable=False),
    Column("hourly_cost_sum", Float, nullable=False),
    Column("credits_sum", Float, nullable=False),
    Column("latency_sum", Float, nullable=False),
    Column("latency_p95", Float, nullable=False),
    Column("availability_sum", Float, nullable=False),
    Column("availability_min", Float, nullable=False),
    Column("error_rate_sum", Float, nullable=False),
    Column("gpu_availability_sum", Float, nullable=False),
    Column("simulated_price", Boolean, nullable=False),
    Index("ix_telemetry_rollups_hour", "hour"),
)

# The same hours summed per provider (the credits burn-down reads a few rows per hour, not one per
# service and place); written with telemetry_rollups, in the same transaction.
telemetry_provider_rollups = Table(
    "telemetry_provider_rollups",
    metadata,
    Column("provider", String(63), primary_key=True),
    Column("hour", UtcDateTime, primary_key=True),
    Column("samples", BigInteger, nullable=False),
    Column("hourly_cost_sum", Float, nullable=False),
    Column("credits_sum", Float, nullable=False),
)

# The sample count and cost sum per (service, provider, region) and 6-hour bucket (starting 00, 06,
# 12 or 18 UTC): exactly the sum of the bucket's rows in telemetry_rollups, rewritten with them in the same
# transaction (store/rollups.py). The 30-day spend read takes a row per service and bucket from here
# (1.2 million at 10,000 services) instead of grouping six hourly rows each.
telemetry_rollups_6h = Table(
    "telemetry_rollups_6h",
    metadata,
    Column("service", String(63), primary_key=True),
    Column("provider", String(63), primary_key=True),
    Column("region", String(63), primary_key=True),
    Column("bucket", UtcDateTime, primary_key=True),
    Column("samples", Integer, nullable=False),
    Column("hourly_cost_sum", Float, nullable=False),
    Index("ix_telemetry_rollups_6h_bucket", "bucket"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("service", String(63), nullable=False, index=True),
    Column("created_at", UtcDateTime, nullable=False, index=True),
    Column("action", String(16), nullable=False),
    Column("emergency", Boolean, nullable=False, default=False),
    Column("status", String(32), nullable=False, index=True),
    Column("from_provider", String(63), nullable=False),
    Column("from_region", String(63), nullable=False),
    Column("to_provider", String(63), nullable=False),
    Column("to_region", String(63), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("net_savings_monthly_usd", Float, nullable=False),
    Column("cost_delta_pct", Float, nullable=False),
    Column("payload", JSON, nullable=False),  # Decision.model_dump(mode="json")
    Column("updated_at", UtcDateTime, nullable=False),
    # {status: detail} of every transition so far (moves.lifecycle reads it; no audit-log scan)
    Column("transitions", JSON, nullable=False, default=dict, server_default="{}"),
)

# Append-only audit log; also the live feed. Each row carries the hash of the previous one.
events = Table(
    "events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("ts", UtcDateTime, nullable=False),
    Column("type", String(32), nullable=False, index=True),
    Column("service", String(63), nullable=True, index=True),
    Column("decision_id", String(64), nullable=True, index=True),
    Column("payload", Text, nullable=False),  # canonical JSON (sorted keys) - hashed as stored
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
)

merge_requests = Table(
    "merge_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("decision_id", String(64), nullable=False, index=True),
    Column("service", String(63), nullable=False, index=True),
    Column("branch", String(255), nullable=False, unique=True),
    Column("host", String(16), nullable=False),  # local | gitlab
    Column("external_id", String(64), nullable=True),  # GitLab iid
    Column("web_url", String(512), nullable=True),
    Column("state", String(16), nullable=False),  # opened | merged | closed
    Column("title", String(512), nullable=False),
    Column("description", Text, nullable=False),
    Column("kind", String(16), nullable=False, default="migration"),  # migration | emergency | rollback
    Column("review", String(32), nullable=True),  # auto_approve | manual_review | deny
    Column("approved_by", String(128), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("mr_id", Integer, ForeignKey("merge_requests.id"), nullable=False, index=True),
    Column("status", String(32), nullable=False),  # running | awaiting_approval | success | failed
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("plan_summary", JSON, nullable=True),
    Column("policy_result", JSON, nullable=True),
)

pipeline_stages = Table(
    "pipeline_stages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("pipeline_runs.id"), nullable=False, index=True),
    Column("name", String(16), nullable=False),  # validate | policy | plan | apply | notify
    Column("status", String(16), nullable=False),  # running | success | failed | skipped | waiting
    Column("started_at", UtcDateTime, nullable=False),
    Column("duration_s", Float, nullable=True),
    Column("log", Text, nullable=False, default=""),
    UniqueConstraint("run_id", "name", name="uq_pipeline_stages_run_name"),
)

# The last comment SWEN posted on each merge request (swen.gitops.mr_hosts ``comment``): its SHA-256,
# so a comment equal to it is not posted again without asking the host.
mr_comments = Table(
    "mr_comments",
    metadata,
    Column("mr_id", Integer, ForeignKey("merge_requests.id"), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("chars", Integer, nullable=False),
    Column("posted_at", UtcDateTime, nullable=False),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service", String(63), nullable=False, index=True),
    Column("provider", String(63), nullable=False),
    Column("region", String(63), nullable=True),
    Column("kind", String(32), nullable=False),  # outage | latency | cost | gpu | ...
    Column("source", String(16), nullable=False),  # engine | alertmanager
    Column("status", String(16), nullable=False, index=True),  # open | remediating | resolved | escalated
    Column("opened_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime, nullable=True),
    Column("time_to_recovery_s", Float, nullable=True),
    Column("decision_id", String(64), nullable=True),
    Column("details", JSON, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(64), nullable=False),
    Column("starts_at", UtcDateTime, nullable=False),
    Column("alertname", String(128), nullable=False),
    Column("status", String(16), nullable=False),  # firing | resolved
    Column("service", String(63), nullable=True),
    Column("provider", String(63), nullable=True),
    Column("incident_id", Integer, ForeignKey("incidents.id"), nullable=True),
    Column("labels", JSON, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("fingerprint", "starts_at", name="uq_alerts_fingerprint_starts_at"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),  # viewer | operator | admin
    Column("prefix", String(16), nullable=False, index=True),
    Column("key_hash", String(128), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
)

# Small named state: automation switch, engine heartbeat, cooldowns, quarantines.
flags = Table(
    "flags",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# Named locks with owner and heartbeat, so a crashed holder's lock can be detected as stale.
locks = Table(
    "locks",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("owner", String(256), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("host", String(256), nullable=False),
    Column("acquired_at", UtcDateTime, nullable=False),
    Column("heartbeat_at", UtcDateTime, nullable=False),
)

# Leader election (swen.leadership): one row per elected role. ``token`` (the fencing token) grows by
# one at every change of holder; ``expires_at`` is on the database's clock (epoch seconds), so
# replicas on different machines compare one clock. Writes of the leader check the row in their own
# transaction (store.leases.check_fence).
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(256), nullable=False),
    Column("token", BigInteger, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("acquired_at", Float, nullable=False),
)

# Shared rate limit (swen.api.ratelimit): requests per key per fixed window (epoch minute), summed
# over every API replica; each replica adds its own counts every fraction of a second.
rate_counts = Table(
    "rate_counts",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("window", BigInteger, primary_key=True),
    Column("count", BigInteger, nullable=False),
)

# Credit ledger (swen.telemetry.ledger, store.credits): one row per burn interval of the platform clock,
# recorded once (the primary key refuses a second row for an interval): what the services on each
# provider cost in it, the credit applied and the balance after, per provider. Balances are replayed
# from these rows and the ledger file, so a restart keeps them.
credit_burns = Table(
    "credit_burns",
    metadata,
    Column("interval_start", UtcDateTime, primary_key=True),
    Column("interval_s", Float, nullable=False),
    Column("burn", JSON, nullable=False),
    Column("applied", JSON, nullable=False),
    Column("balance", JSON, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
)


# The action queue (store.actions, moves.queue): moves the engine cycle hands to the leader's workers.
# ``key`` makes enqueuing idempotent (one action per decision and phase); a claim sets ``owner``,
# ``worker`` and ``lease_until`` (epoch seconds on the database's clock): past it, or once another
# engine leads, the action is claimable again. ``priority`` is the move's net monthly savings.
actions = Table(
    "actions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("key", String(160), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # propose | apply | rollback
    Column("decision_id", String(64), nullable=True, index=True),
    Column("mr_id", Integer, nullable=True),
    Column("service", String(63), nullable=False),
    Column("provider", String(63), nullable=False),  # the move's target provider (per-provider budget)
    Column("emergency", Boolean, nullable=False, default=False),
    Column("chosen", Boolean, nullable=False, default=False),  # a person's choice (swen place)
    Column("priority", Float, nullable=False),
    Column("state", String(16), nullable=False),  # pending | running | done | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("owner", String(256), nullable=True),
    Column("worker", String(64), nullable=True),
    Column("lease_until", Float, nullable=True),
    Column("waiting", String(300), nullable=True),
    Column("outcome", Text, nullable=True),
    Column("enqueued_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_actions_state_order", "state", "emergency", "priority"),
)


# Price catalog versions (issue 13; swen.store.catalogs): version 1 is the packaged data, recorded on
# first use; `swen catalog refresh` adds the next. Every version keeps its full prices CSV, so the
# prices in force when a decision was made stay readable. The newest version is the active one.
catalog_versions = Table(
    "catalog_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("kind", String(16), nullable=False),  # packaged | refresh
    Column("source", String(1024), nullable=False),  # the file name or URL given
    Column("sha256", String(64), nullable=False),  # of the file as given
    Column("providers", JSON, nullable=False),  # providers whose prices this version replaced
    Column("offers", Integer, nullable=False),  # price rows of the whole version
    Column("prices", Text, nullable=False),  # the whole prices CSV in force (shipped format)
)
