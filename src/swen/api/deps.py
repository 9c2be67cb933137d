"""Annotated dependencies: the store, the settings, and the calling key with its role.

``require(role)`` authenticates ``Authorization: Bearer <key>`` against the hashed keys in the store,
answers 401 without a valid key, 403 when the key's role is too low and 429 when the key is over its
rate limit. Nothing is read from or written to the store beyond the key lookup before that passes.
A successful lookup is cached per process (``swen.api.keycache``): a revoked key is dropped from every
replica's cache by a PostgreSQL notification, or expires from it within 0.5 s without one; the rate
limit is shared by the replicas (``swen.api.ratelimit``). The dependencies are ``async`` so that the
hot path (cached key, rate limit, query check) costs no thread hop; only the store lookup runs in a
worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from swen.api.keycache import KeyCache
from swen.api.problems import ApiProblem
from swen.api.ratelimit import RateLimiter
from swen.config import Settings
from swen.domain.keys import Principal, Role, secrets_equal
from swen.store.keys import ApiKeyRepository
from swen.store.repository import Store

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    bearerFormat="swen_<random>",
    description="An API key from `swen keys create --role viewer|operator|admin`.",
)
gitlab_token_scheme = APIKeyHeader(
    name="X-Gitlab-Token",
    auto_error=False,
    scheme_name="GitlabToken",
    description="The secret token configured on the GitLab webhook (SWEN_GITLAB_WEBHOOK_SECRET).",
)

_F = TypeVar("_F", bound=Callable[..., Any])
_UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}
ROLE_EXTENSION = "x-required-role"
OPEN_ROLE = "none (viewer when SWEN_OPEN_HEALTH_ENDPOINTS=false)"


def declares_role(role: Role | str) -> dict[str, Any]:
    """``openapi_extra`` stating who may call an operation (a Role, or how a webhook authenticates)."""
    return {ROLE_EXTENSION: role.value if isinstance(role, Role) else role}


async def get_settings(request: HTTPConnection) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_store(request: HTTPConnection) -> Store:
    store: Store | None = getattr(request.app.state, "store", None)
    if store is None:
        raise ApiProblem(503, "the store is not open yet", hint="wait for the API to finish starting")
    return store


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


async def _authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    """The key's principal: from the per-process cache, else looked up in the store (in a thread)."""
    if credentials is None or not credentials.credentials:
        raise ApiProblem(
            401,
            "an API key is required",
            hint="send 'Authorization: Bearer <key>' (create one with `swen keys create`)",
            headers=_UNAUTHORIZED,
        )
    cache: KeyCache = request.app.state.key_cache
    repo = ApiKeyRepository(await get_store(request))
    presented = credentials.credentials

    def lookup() -> Principal | None:
        record = repo.authenticate(presented)
        return None if record is None else Principal(key_id=record.id, name=record.name, role=record.role)

    principal = await cache.get_or_lookup(presented, lookup)
    if principal is None:
        raise ApiProblem(
            401,
            "the API key is unknown or revoked",
            hint="check the key or create a new one",
            headers=_UNAUTHORIZED,
        )
    return principal


def _authorise(request: Request, principal: Principal, needed: Role) -> Principal:
    if not principal.role.allows(needed):
        raise ApiProblem(
            403,
            f"this route needs the {needed.value} role; the key has {principal.role.value}",
            hint=f"use a key created with `swen keys create --role {needed.value}`",
        )
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.acquire(f"key:{principal.key_id}")
    _share_counts(request, limiter)
    if wait is not None:
        raise ApiProblem(
            429,
            "rate limit exceeded for this key",
            hint="slow down or raise SWEN_RATE_LIMIT_PER_MINUTE",
            headers={"Retry-After": str(max(1, int(wait + 0.999)))},
        )
    return principal


def _share_counts(request: Request, limiter: RateLimiter) -> None:
    """Now and then, share the limiter's counts with the other replicas in a worker thread (the
    request does not wait for it)."""
    store: Store | None = getattr(request.app.state, "store", None)
    if store is None or not limiter.flush_due():
        return
    done = asyncio.get_running_loop().run_in_executor(None, limiter.flush, store)
    done.add_done_callback(lambda f: f.exception())  # flush logs its own errors; nothing to retrieve


_AUTHENTICATES = "_swen_authenticates"
"""Marks a dependency that authenticates the caller (and then checks the query string itself)."""


def _authenticating(function: _F) -> _F:
    setattr(function, _AUTHENTICATES, True)
    return function


def _query_facts(route: APIRoute) -> tuple[frozenset[str], bool]:
    """Query parameters the route (with its dependencies) declares, and whether one of its dependencies
    authenticates the caller; cached on the route object."""
    cached: tuple[frozenset[str], bool] | None = getattr(route, "_swen_query_facts", None)
    if cached is not None:
        return cached
    names: set[str] = set()
    authenticated = False
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        names.update(f.alias for f in dependant.query_params)
        authenticated = authenticated or getattr(dependant.call, _AUTHENTICATES, False)
        pending.extend(dependant.dependencies)
    route._swen_query_facts = (frozenset(names), authenticated)  # type: ignore[attr-defined]
    return route._swen_query_facts  # type: ignore[attr-defined,no-any-return]


def _check_query(request: HTTPConnection) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    unknown = sorted(set(request.query_params.keys()) - _query_facts(route)[0])
    if unknown:
        raise RequestValidationError(
            [
                {"loc": ("query", name), "msg": "unknown query parameter", "type": "extra_forbidden"}
                for name in unknown
            ]
        )


async def reject_unknown_query(request: HTTPConnection) -> None:
    """A query parameter the route does not declare is a 422, not silently ignored (typos show).

    On a route that needs a key (or a webhook secret) the check waits for it: the authenticating
    dependency runs it once the caller is known, so that a caller without a valid key gets 401/403,
    whatever the query string holds, and learns nothing about the route's parameters.
    """
    route = request.scope.get("route")
    if isinstance(route, APIRoute) and not _query_facts(route)[1]:
        _check_query(request)


def require(
    role: Role,
) -> Callable[[Request, HTTPAuthorizationCredentials | None], Coroutine[Any, Any, Principal]]:
    """Dependency factory: the caller must hold a key with at least ``role``."""

    @_authenticating
    async def dependency(request: Request, credentials: Credentials) -> Principal:
        principal = _authorise(request, await _authenticate(request, credentials), role)
        _check_query(request)
        return principal

    dependency.__name__ = f"require_{role.value}"
    return dependency


ViewerDep = Annotated[Principal, Depends(require(Role.VIEWER))]
OperatorDep = Annotated[Principal, Depends(require(Role.OPERATOR))]
AdminDep = Annotated[Principal, Depends(require(Role.ADMIN))]


@_authenticating
async def alert_sender(request: Request, credentials: Credentials) -> Principal:
    """Alertmanager's bearer token (SWEN_ALERT_TOKEN, constant-time compare) or an operator key."""
    settings = await get_settings(request)
    token = settings.alert_token.get_secret_value() if settings.alert_token else None
    if credentials is not None and secrets_equal(credentials.credentials, token):
        principal = Principal(key_id=None, name="alertmanager", role=Role.OPERATOR)
    else:
        principal = _authorise(request, await _authenticate(request, credentials), Role.OPERATOR)
    _check_query(request)
    return principal


AlertSenderDep = Annotated[Principal, Depends(alert_sender)]


@_authenticating
async def gitlab_webhook(
    request: Request, token: Annotated[str | None, Depends(gitlab_token_scheme)]
) -> Principal:
    """GitLab's X-Gitlab-Token must equal SWEN_GITLAB_WEBHOOK_SECRET (constant-time compare)."""
    settings = await get_settings(request)
    secret = settings.gitlab_webhook_secret.get_secret_value() if settings.gitlab_webhook_secret else None
    if secret is None:
        raise ApiProblem(
            401,
            "the GitLab webhook is not configured on this server",
            hint="set SWEN_GITLAB_WEBHOOK_SECRET and the same secret token on the GitLab webhook",
            headers=_UNAUTHORIZED,
        )
    if not secrets_equal(token, secret):
        raise ApiProblem(
            401,
            "missing or wrong X-Gitlab-Token",
            hint="use the webhook's secret token",
            headers=_UNAUTHORIZED,
        )
    _check_query(request)
    return Principal(key_id=None, name="gitlab", role=Role.OPERATOR)


GitlabWebhookDep = Annotated[Principal, Depends(gitlab_webhook)]
