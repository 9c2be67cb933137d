"""Errors as RFC 9457 problem details (``application/problem+json``), and their OpenAPI documentation.

Every SwenError subclass maps to one HTTP status; validation errors list the offending fields; any
other exception becomes a 500 without internals (the traceback goes to the log, never to the client).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from swen.domain.errors import (
    AuthError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    StoreError,
    SwenError,
)

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details, plus SWEN's ``hint`` (what to do next)."""

    type: str = Field(default="about:blank", description="URI identifying the problem type.")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | None = None
    hint: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


class ApiProblem(Exception):
    """Raise from routes or dependencies to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        hint: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.hint = hint
        self.headers = headers


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

_DESCRIPTIONS = {
    400: "Malformed request.",
    401: "Missing or invalid credentials.",
    403: "The key's role is too low for this route.",
    404: "No such resource.",
    409: "The request conflicts with the current state.",
    413: "Request body larger than the configured limit.",
    422: "The request did not validate.",
    429: "Rate limit exceeded for this key; retry after the Retry-After seconds.",
    503: "The store or the engine is not available.",
}


def problem_response(
    status: int,
    detail: str | None,
    *,
    hint: str | None = None,
    instance: str | None = None,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    problem = Problem(
        title=_TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        hint=hint,
        instance=instance,
        errors=errors,
    )
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def status_for(exc: SwenError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, InvalidInputError):
        return 422
    if isinstance(exc, AuthError):
        return 401
    if isinstance(exc, StoreError):
        return 503
    return 500


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem documents for ``codes``."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {
            "description": _DESCRIPTIONS.get(code, _TITLES.get(code, "Error")),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}},
        }
        if code == 429:
            entry["headers"] = {
                "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "string"}}
            }
        if code == 401:
            entry["headers"] = {
                "WWW-Authenticate": {"description": "Authentication scheme.", "schema": {"type": "string"}}
            }
        out[code] = entry
    return out


def _instance(request: Request) -> str:
    return request.url.path


async def _on_api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return problem_response(
        exc.status, exc.detail, hint=exc.hint, instance=_instance(request), headers=exc.headers
    )


async def _on_swen_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SwenError)
    status = status_for(exc)
    if status >= 500:
        log.error("request %s %s failed: %s", request.method, request.url.path, exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return problem_response(status, exc.message, hint=exc.hint, instance=_instance(request), headers=headers)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem_response(
        exc.status_code, str(exc.detail), instance=_instance(request), headers=exc.headers
    )


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(
            loc=[p if isinstance(p, int) else str(p) for p in err.get("loc", ())],
            msg=str(err.get("msg", "")),
            type=str(err.get("type", "")),
        )
        for err in exc.errors()
    ]
    first = errors[0] if errors else None
    detail = f"{'.'.join(str(p) for p in first.loc)}: {first.msg}" if first else "invalid request"
    return problem_response(
        422, detail, hint="fix the listed fields", instance=_instance(request), errors=errors
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error in %s %s", request.method, request.url.path)
    return problem_response(500, "internal error; see the server log", instance=_instance(request))


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiProblem, _on_api_problem)
    app.add_exception_handler(SwenError, _on_swen_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)
