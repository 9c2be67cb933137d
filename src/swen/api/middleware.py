"""Pure ASGI middleware: request duration metrics, the request body size limit, and read-your-writes
for the cached reads."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

from fastapi import HTTPException
from prometheus_client import Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from swen.api.problems import problem_response

UNMATCHED_ROUTE = "<unmatched>"


class _HttpMiddleware(ABC):
    """Pure ASGI middleware that acts on HTTP requests (``handle``); lifespan and websocket messages
    pass straight through to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    @abstractmethod
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request."""


class RequestMetricsMiddleware(_HttpMiddleware):
    """Observes ``swen_http_request_duration_seconds{route,method,status}``.

    ``route`` is the route template (``/decisions/{decision_id}``), never the raw path, so ids do not
    explode the label set; requests that match no route are counted under ``<unmatched>``.
    """

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        super().__init__(app)
        self.histogram = histogram

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            self.histogram.labels(template, scope["method"], str(status)).observe(
                time.perf_counter() - started
            )


class BodySizeLimitMiddleware(_HttpMiddleware):
    """Refuses request bodies larger than ``max_bytes`` with 413, whether declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = problem_response(
                413, f"request body of {int(declared)} bytes exceeds the limit of {self.max_bytes} bytes",
                hint="send a smaller body or raise SWEN_MAX_BODY_BYTES", instance=scope.get("path"),
            )  # fmt: skip
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException passes through FastAPI's body reading and becomes a 413 problem.
                    raise HTTPException(413, f"request body exceeds the limit of {self.max_bytes} bytes")
            return message

        await self.app(scope, limited_receive, send)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ReadYourWritesMiddleware(_HttpMiddleware):
    """After a write request (any method but GET, HEAD, OPTIONS) this replica stops trusting the
    versions it learnt from notifications until its listener has caught up with that write
    (``swen.store.versions.NotifiedVersions.wrote``), so a client that wrote through this replica
    never reads a page older than its own write."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["method"] not in SAFE_METHODS:
                versions = getattr(scope["app"].state, "versions", None)
                notified = getattr(versions, "notified", None)
                if notified is not None:
                    notified.wrote()
