"""A small typed client for the SWEN API: the dashboard's only data source.

Every failure becomes a :class:`DashboardError` whose message is one sentence a person can act on
(the API is down, the key is missing or refused, a route is not there); the dashboard shows it with
``st.error`` and never a traceback. Responses are parsed into the API's own response models.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from swen.api.action_schemas import ActionPage
from swen.api.catalog_schemas import CatalogVersionsOut
from swen.api.schemas import (
    AutomationOut,
    CostAnalysisOut,
    DecisionOut,
    DecisionPage,
    MergeRequestOut,
    MergeRequestPage,
    MergeRequestReviewOut,
    ServiceList,
    ServiceOut,
    TelemetryPage,
    TelemetryPoint,
)
from swen.domain.errors import AuthError, NotFoundError, SwenError

M = TypeVar("M", bound=BaseModel)
KEY_HINT = "create one with `swen keys create --role operator --name dashboard` and set SWEN_API_KEY"


@dataclass(frozen=True)
class ReviewResult:
    """What an approval or rejection recorded: the MR and (newer APIs) the decision status."""

    merge_request: MergeRequestOut
    decision_status: str | None = None


class DashboardError(SwenError):
    """The dashboard could not get what it needs from the API (message: one sentence to show)."""


class ApiUnreachableError(DashboardError):
    """Nothing answers at the API address."""


class ApiAuthError(DashboardError, AuthError):
    """The API refused the key (missing, unknown, revoked, or role too low)."""


class ApiNotFoundError(DashboardError, NotFoundError):
    """The route or the object does not exist (e.g. an older API without /incidents)."""


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _problem_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except (json.JSONDecodeError, ValueError):
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("title")
        if isinstance(detail, str):
            return detail
        if detail is not None:
            return json.dumps(detail)[:200]
    return response.reason_phrase


class ApiClient:
    """Blocking HTTP client of one API (base URL + bearer key)."""

    def __init__(
        self,
        base_url: str,
        key: str | None,
        *,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout_s, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    # --- transport -----------------------------------------------------------------------------
    def _unreachable(self) -> ApiUnreachableError:
        return ApiUnreachableError(
            f"The API at {self.base_url} is not reachable",
            hint="start it with `swen api` or `swen up`, or set SWEN_API_URL",
        )

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if not self.key:
            raise ApiAuthError("The dashboard has no API key", hint=KEY_HINT)
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ApiUnreachableError(
                f"The API at {self.base_url} did not answer in time",
                hint="check that `swen api` is running and not overloaded",
            ) from None
        except httpx.HTTPError:
            raise self._unreachable() from None
        self._raise_for_status(response, path)
        return response

    def _raise_for_status(self, response: httpx.Response, path: str) -> None:
        code = response.status_code
        if code < 400:
            return
        detail = _problem_detail(response)
        if code == 401:
            raise ApiAuthError(f"The API refused the dashboard's key: {detail}", hint=KEY_HINT)
        if code == 403:
            raise ApiAuthError(
                f"The dashboard's key may not do this: {detail}",
                hint="use a key with the operator role",
            )
        if code == 404:
            raise ApiNotFoundError(f"The API has no {path}: {detail}")
        if code == 429:
            raise DashboardError(
                "The API is rate-limiting the dashboard's key",
                hint="raise the refresh interval or SWEN_RATE_LIMIT_PER_MINUTE",
            )
        raise DashboardError(f"The API answered {code} to {path}: {detail}")

    def _get(self, path: str, model: type[M], params: Mapping[str, Any] | None = None) -> M:
        response = self._request(
            "GET", path, params={k: v for k, v in (params or {}).items() if v is not None}
        )
        return self._parse(response, model, path)

    @staticmethod
    def _parse(response: httpx.Response, model: type[M], path: str) -> M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise DashboardError(
                f"The API's answer to {path} does not match what this dashboard expects "
                f"({exc.error_count()} problem(s))",
                hint="run the dashboard and the API from the same SWEN version",
            ) from None

    # --- reads ---------------------------------------------------------------------------------
    def services(self) -> list[ServiceOut]:
        return self._get("/services", ServiceList).items

    def telemetry_latest(
        self, *, service: str | None = None, provider: str | None = None
    ) -> list[TelemetryPoint]:
        return list(self._pages("/telemetry", TelemetryPage, {"service": service, "provider": provider}))

    def telemetry_history(
        self,
        *,
        start: datetime,
        end: datetime,
        service: str | None = None,
        provider: str | None = None,
        step_s: int | None = None,
    ) -> list[TelemetryPoint]:
        params = {"service": service, "provider": provider, "step_s": step_s}
        params |= {"start": _iso(start), "end": _iso(end)}
        return list(self._pages("/telemetry", TelemetryPage, params))

    def _pages(
        self, path: str, model: type[TelemetryPage], params: dict[str, Any]
    ) -> Iterator[TelemetryPoint]:
        offset: int | None = 0
        while offset is not None:
            page = self._get(path, model, {**params, "limit": 1000, "offset": offset})
            yield from page.items
            offset = page.next_offset

    def decisions(
        self,
        *,
        service: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> DecisionPage:
        params = {
            "service": service, "status": status, "since": _iso(since) if since else None,
            "limit": limit, "offset": offset,
        }  # fmt: skip
        return self._get("/decisions", DecisionPage, params)

    def decision(self, decision_id: str) -> DecisionOut:
        return self._get(f"/decisions/{decision_id}", DecisionOut)

    def merge_requests(self, *, state: str | None = None, limit: int = 200) -> MergeRequestPage:
        return self._get("/mrs", MergeRequestPage, {"state": state, "limit": limit})

    def merge_request(self, mr_id: int) -> MergeRequestOut:
        return self._get(f"/mrs/{mr_id}", MergeRequestOut)

    def review(self, mr_id: int) -> MergeRequestReviewOut:
        """What a reviewer needs: cost table, the gate's reasons, tfvars diff, plan summary."""
        return self._get(f"/mrs/{mr_id}/review", MergeRequestReviewOut)

    def automation(self) -> AutomationOut:
        return self._get("/automation", AutomationOut)

    def set_automation(self, *, paused: bool, reason: str | None = None) -> AutomationOut:
        path = "/automation/pause" if paused else "/automation/resume"
        body = {"reason": reason} if reason else None
        return self._parse(self._request("POST", path, json=body), AutomationOut, path)

    def first_sample_time(self, start: datetime, end: datetime) -> datetime | None:
        """When telemetry in [start, end) begins: the end of the first one-second bucket that holds a
        sample, so never before the first sample and at most a second after it (keep the range short,
        e.g. one bucket of the cost series)."""
        params = {"start": _iso(start), "end": _iso(end), "step_s": 1, "limit": 1}
        page = self._get("/telemetry", TelemetryPage, params)
        first = min((p.ts for p in page.items), default=None)
        return None if first is None else first + timedelta(seconds=1)

    def incident(self, incident_id: int) -> dict[str, Any]:
        """The post-incident report (GET /incidents/{id}) as the API sends it."""
        body = self._request("GET", f"/incidents/{incident_id}").json()
        if not isinstance(body, dict):
            raise DashboardError(f"The API's answer to /incidents/{incident_id} is not an object")
        return body

    def cost_analysis(self, *, days: int = 7) -> CostAnalysisOut:
        return self._get("/cost-analysis", CostAnalysisOut, {"days": days})

    def actions(self, *, limit: int = 50) -> ActionPage:
        """The action queue (GET /actions): active actions first, in the order the workers take them
        (emergencies first, then the most valuable), each pending one saying why it waits."""
        return self._get("/actions", ActionPage, {"limit": limit})

    def catalog_versions(self) -> CatalogVersionsOut:
        """Every price catalog version, newest first, and the active one (GET /catalog/versions)."""
        return self._get("/catalog/versions", CatalogVersionsOut)

    def readiness(self) -> dict[str, Any]:
        """GET /readyz (200 or 503 both carry the body)."""
        try:
            response = self._http.get("/readyz")
        except httpx.HTTPError:
            raise self._unreachable() from None
        try:
            body = response.json()
        except ValueError:
            return {"status": "unknown", "problems": [f"readyz answered {response.status_code}"]}
        return body if isinstance(body, dict) else {"status": "unknown", "problems": []}

    def incidents(self) -> list[dict[str, Any]] | None:
        """Incidents if the API has the route (GET /incidents), else None (an older API)."""
        try:
            response = self._request("GET", "/incidents", params={"limit": 200})
        except ApiNotFoundError:
            return None
        body = response.json()
        items = body.get("items", []) if isinstance(body, dict) else body
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []

    def can_operate(self) -> bool:
        """True when the key has the operator role or more (``GET /whoami``)."""
        body = self._request("GET", "/whoami").json()
        return isinstance(body, dict) and body.get("role") in ("operator", "admin")

    # --- writes --------------------------------------------------------------------------------
    def approve(self, mr_id: int) -> ReviewResult:
        path = f"/mrs/{mr_id}/approve"
        return self._review(self._request("POST", path, timeout=300.0), path)

    def reject(self, mr_id: int, reason: str | None = None) -> ReviewResult:
        path = f"/mrs/{mr_id}/reject"
        body = {"reason": reason} if reason else None
        return self._review(self._request("POST", path, json=body, timeout=120.0), path)

    def _review(self, response: httpx.Response, path: str) -> ReviewResult:
        """``{"merge_request", "decision_status"}`` or (older APIs) the MR itself."""
        try:
            body = response.json()
            if isinstance(body, dict) and "merge_request" in body:
                status = body.get("decision_status")
                return ReviewResult(
                    MergeRequestOut.model_validate(body["merge_request"]),
                    str(status) if status is not None else None,
                )
            return ReviewResult(MergeRequestOut.model_validate(body))
        except (ValueError, ValidationError):
            raise DashboardError(
                f"The API's answer to {path} does not match what this dashboard expects",
                hint="run the dashboard and the API from the same SWEN version",
            ) from None

    # --- live feed -----------------------------------------------------------------------------
    @property
    def ws_url(self) -> str:
        if self.base_url.startswith("https://"):
            return "wss://" + self.base_url.removeprefix("https://") + "/ws"
        return "ws://" + self.base_url.removeprefix("http://") + "/ws"
