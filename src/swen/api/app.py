"""The FastAPI application factory: ``create_app(settings, *, store=None)``.

Nothing is created at import time. The app reads and writes the same store as the engine; when no
store is passed, it opens one from the settings at startup and closes it at shutdown. Several API
processes may run against one PostgreSQL: every read goes to the store, the live feed reads the
store's event log, and response caches are re-validated against the store's data version on every
request (learnt from PostgreSQL notifications, or asked; see ``store.versions``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline

from swen import __version__
from swen.api.cache import ResponseCache
from swen.api.deps import reject_unknown_query, require
from swen.api.feed import EventFeed
from swen.api.keycache import KeyCache
from swen.api.memo import Memo
from swen.api.middleware import BodySizeLimitMiddleware, ReadYourWritesMiddleware, RequestMetricsMiddleware
from swen.api.problems import Problem, install_problem_handlers, problem_responses
from swen.api.ratelimit import RateLimiter
from swen.api.routers import (
    actions,
    alerts,
    automation,
    catalog,
    cost,
    credits,
    decisions,
    deployments,
    health,
    incidents,
    metrics,
    mrs,
    placements,
    scenarios,
    services,
    telemetry,
    whoami,
    ws,
)
from swen.config import Settings
from swen.domain.keys import Role
from swen.moves.queue import ChangeBudget
from swen.observability.metrics import StoreCollector, build_registry
from swen.store.notify import (
    CHANGES_CHANNEL,
    EVENTS_CHANNEL,
    KEYS_CHANNEL,
    Listener,
    has_change_triggers,
    supports_notify,
)
from swen.store.repository import Store
from swen.store.versions import NotifiedVersions, VersionProbe

_log = logging.getLogger(__name__)

HEARTBEATS_PER_LAG = 5
"""The listener's heartbeat runs this many times per ``api_max_staleness_s``, so a heartbeat a little
late (a busy process) does not yet send requests back to asking the database."""
ERROR_CODES = (401, 403, 404, 413, 422, 429, 503)
"""Documented on every route (problem+json); open routes answer 401/403 only when made closed."""
DOCS_ASSETS_URL = "/docs-assets"
"""Where the Swagger UI and ReDoc assets are served (same origin as the API)."""
BODY_ERROR_CODES = (400,)
"""Documented on every route that takes a request body: 400 when the body cannot be parsed at all
(e.g. bytes that are not UTF-8); well-formed text that is not valid JSON is a 422 like any bad field."""


def _attach_store(app: FastAPI, store: Store) -> None:
    app.state.store = store
    app.state.feed = EventFeed(store)
    app.state.versions = VersionProbe(store.engine)
    budget = ChangeBudget.from_settings(app.state.settings)
    app.state.metrics.registry.register(StoreCollector(store, budget=budget))


def _notified_versions(app: FastAPI) -> NotifiedVersions | None:
    """Versions learnt from notifications, when the settings ask for it and the database sends them."""
    settings: Settings = app.state.settings
    store: Store = app.state.store
    if settings.api_max_staleness_s <= 0:
        return None
    if not has_change_triggers(store.engine):
        _log.warning(
            "the database has no change triggers (migration 0011): the API asks it for the data "
            "version on every request; run `swen init` to migrate"
        )
        return None
    return NotifiedVersions(settings.api_max_staleness_s)


def _listen(app: FastAPI) -> Listener | None:
    """On PostgreSQL, one LISTEN connection per process: revoked keys leave the key cache at once,
    the live feed wakes on every committed event, and cached pages learn that their data changed
    (see ``store.notify`` and ``store.versions``). None on SQLite."""
    store: Store = app.state.store
    if not supports_notify(store.engine):
        return None
    cache: KeyCache = app.state.key_cache
    feed: EventFeed = app.state.feed
    versions: VersionProbe = app.state.versions
    notified = _notified_versions(app)

    def on_state(up: bool) -> None:
        cache.listening(up)
        feed.listening(up)
        if notified is not None:
            notified.listening(up)

    handlers = {KEYS_CHANNEL: lambda payload: cache.invalidate(int(payload)), EVENTS_CHANNEL: feed.notified}
    if notified is None:
        return Listener(store.engine, handlers, on_state=on_state).start()
    handlers[CHANGES_CHANNEL] = notified.changed
    heartbeat_s = notified.max_lag_s / HEARTBEATS_PER_LAG
    listener = Listener(
        store.engine, handlers, on_state=on_state, heartbeat_s=heartbeat_s, on_sync=notified.synced
    )
    versions.notified = notified
    return listener.start()


def _lifespan(owned: bool) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owned:
            _attach_store(app, Store.open(app.state.settings))
        listener = _listen(app)
        try:
            yield
        finally:
            if listener is not None:
                listener.stop()
            if app.state.versions is not None:
                app.state.versions.notified = None
                app.state.versions.close()
            if owned:
                app.state.store.close()
                app.state.store = None

    return lifespan


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [X, {type: null}]`` -> X for a parameter: a query string cannot carry a null, and the
    null branch makes tools think e.g. ``false`` is not a valid (string) value."""
    options = schema.get("anyOf")
    if not isinstance(options, list):
        return schema
    rest = [o for o in options if o != {"type": "null"}]
    if len(rest) != 1 or len(rest) == len(options):
        return schema
    merged = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**rest[0], **merged}


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in problem.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components["Problem"] = problem
    for operation in (op for item in schema.get("paths", {}).values() for op in item.values()):
        for parameter in operation.get("parameters", []):
            parameter["schema"] = _without_null(parameter.get("schema", {}))
        if "requestBody" in operation:
            responses = operation.setdefault("responses", {})
            for code, entry in problem_responses(*BODY_ERROR_CODES).items():
                responses.setdefault(str(code), entry)
    app.openapi_schema = schema
    return schema


def create_app(settings: Settings, *, store: Store | None = None) -> FastAPI:
    """Build the API. Pass ``store`` to share an open store (tests, ``swen up`` in one process).

    ``/docs`` (Swagger UI) and ``/redoc`` load their scripts and styles from the app itself
    (fastapi-offline ships them, under DOCS_ASSETS_URL), so they work without internet access."""
    app = FastAPIOffline(
        static_url=DOCS_ASSETS_URL,
        # Swagger UI would send the schema's URL to an online validator (validator.swagger.io).
        swagger_ui_parameters={"validatorUrl": None},
        title="SWEN API",
        version=__version__,
        description=(
            "Multi-cloud placement decisions, telemetry, costs and the GitOps lifecycle. "
            "Send an API key as `Authorization: Bearer <key>` (`swen keys create --role "
            "viewer|operator|admin`); each operation's summary names the role it needs. Errors are "
            "RFC 9457 problem details (`application/problem+json`). Live feed: WebSocket `/ws` "
            "(role viewer; `?after=<last event id>` resumes, `?types=decision,mr,...` filters)."
        ),
        lifespan=_lifespan(owned=store is None),
        responses=problem_responses(*ERROR_CODES),
        dependencies=[Depends(reject_unknown_query)],
    )
    app.state.settings = settings
    app.state.store = None
    app.state.versions = None
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    app.state.cache = ResponseCache()
    app.state.memo = Memo()
    app.state.key_cache = KeyCache()
    app.state.metrics = build_registry(None)
    if store is not None:
        _attach_store(app, store)
    install_problem_handlers(app)

    open_deps = [] if settings.open_health_endpoints else [Depends(require(Role.VIEWER))]
    app.include_router(health.router, dependencies=open_deps)
    app.include_router(metrics.router, dependencies=open_deps)
    for module in (telemetry, decisions, cost, services, mrs, deployments, alerts, scenarios, ws):
        app.include_router(module.router)
    app.include_router(incidents.router)
    app.include_router(whoami.router)
    app.include_router(automation.router)
    app.include_router(placements.router)
    app.include_router(credits.router)
    app.include_router(actions.router)
    app.include_router(catalog.router)

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ReadYourWritesMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(RequestMetricsMiddleware, histogram=app.state.metrics.http_request_duration)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
