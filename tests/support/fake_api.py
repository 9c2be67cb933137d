"""The request plumbing of the loopback fake REST APIs (tests/integration/fake_gitlab.py,
fake_github.py): an ``http.server`` on 127.0.0.1, every request recorded, token check, injected
failures, JSON answers.

A fake subclasses :class:`FakeApi` and says what differs: which header carries the token and what it
must be (:meth:`credentials`, :meth:`authorized`), the service's error payloads (:meth:`unauthorized`,
:meth:`unavailable`) and its routes (:meth:`route`).
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, Any]
"""(HTTP status, JSON payload)."""


class FakeApi(ABC):
    """A JSON API on a free loopback port; ``with`` starts and stops it."""

    content_type = "application/json"

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        """Every request: method, path, query (lists of values), body and :meth:`credentials`."""
        self.fail_next: list[int] = []
        """Status codes to answer with (one per request, after the token check) before serving."""
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.root = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls(self, method: str, suffix: str = "") -> list[dict[str, Any]]:
        """The recorded requests of ``method`` whose path ends with ``suffix``."""
        return [r for r in self.requests if r["method"] == method and r["path"].endswith(suffix)]

    # --- what each service does its own way ---------------------------------------------------------
    @abstractmethod
    def credentials(self, headers: Message) -> dict[str, Any]:
        """What the request record keeps of the credentials (e.g. ``{"token": ...}``)."""

    @abstractmethod
    def authorized(self, headers: Message) -> bool: ...

    @abstractmethod
    def unauthorized(self) -> Answer: ...

    @abstractmethod
    def unavailable(self, status: int) -> Answer:
        """The answer to an injected failure (``fail_next``)."""

    @abstractmethod
    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Answer: ...

    # --- plumbing ---------------------------------------------------------------------------------
    def _answer(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, headers: Message
    ) -> Answer:
        with self._lock:
            self.requests.append(
                {"method": method, "path": path, "query": query, "body": body, **self.credentials(headers)}
            )
            if not self.authorized(headers):
                return self.unauthorized()
            if self.fail_next:
                return self.unavailable(self.fail_next.pop(0))
            return self.route(method, path, query, body)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _serve(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body: Any = {}
                if raw and "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw)
                elif raw:  # a form, as python-gitlab sends some requests
                    body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                status, payload = fake._answer(
                    self.command, url.path, parse_qs(url.query), body, self.headers
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", fake.content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        return Handler
