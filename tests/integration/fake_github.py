"""A local fake GitHub (http.server on 127.0.0.1) replaying payloads shaped like GitHub's REST API.

Served under ``/api/v3`` as a GitHub Enterprise Server is, so PyGithub reaches it through its base
URL, as it would a real server. Only what SWEN's GitHub host calls is served; every request is
recorded so tests can assert on method, path, query and body. No real GitHub runs here.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

from support.fake_api import Answer, FakeApi

FIXTURES = Path(__file__).parents[1] / "fixtures" / "github"
TOKEN = "ghp_testtoken000000000000000000000000000"
REPOSITORY = "platform/infra"
PREFIX = "/api/v3"
NO_PAUSES = {"seconds_between_requests": 0.0, "seconds_between_writes": 0.0}
"""PyGithub's pauses between requests (GitHub's rate-limit advice) are for GitHub, not this fake."""


def _fixture(name: str) -> Any:
    return copy.deepcopy(json.loads((FIXTURES / name).read_text()))


def _error(key: str) -> dict[str, Any]:
    errors: dict[str, dict[str, Any]] = _fixture("errors.json")
    return errors[key]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGitHub(FakeApi):
    content_type = "application/json; charset=utf-8"

    def __init__(self) -> None:
        self.pulls: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.reviews: dict[int, list[dict[str, Any]]] = {}
        self.own_review_refused = False  # answer 422 to APPROVE as GitHub does for the PR's author
        super().__init__()
        self.url = f"{self.root}{PREFIX}"

    def credentials(self, headers: Message) -> dict[str, Any]:
        return {"auth": headers.get("Authorization") or ""}

    def authorized(self, headers: Message) -> bool:
        return headers.get("Authorization") in (f"token {TOKEN}", f"Bearer {TOKEN}")

    def unauthorized(self) -> Answer:
        return 401, _error("401")

    def unavailable(self, status: int) -> Answer:
        return status, _error("503")

    def create_pull(self, body: dict[str, Any]) -> dict[str, Any]:
        number = len(self.pulls) + 1
        pr = _fixture("pull_request.json")
        base_url = f"{self.url}/repos/{REPOSITORY}"
        pr.update(
            id=2100000000 + number,
            number=number,
            title=body["title"],
            body=body.get("body"),
            created_at=_now(),
            updated_at=_now(),
            url=f"{base_url}/pulls/{number}",
            issue_url=f"{base_url}/issues/{number}",
            comments_url=f"{base_url}/issues/{number}/comments",
            html_url=f"https://github.example.com/{REPOSITORY}/pull/{number}",
        )
        pr["head"].update(ref=body["head"], label=f"platform:{body['head']}")
        pr["base"].update(ref=body["base"], label=f"platform:{body['base']}")
        self.pulls[number] = pr
        self.comments[number] = []
        self.reviews[number] = []
        return pr

    # --- request handling -----------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Answer:
        repo_prefix = f"{PREFIX}/repos/{REPOSITORY}/"
        if not path.startswith(repo_prefix):
            return 404, _error("404")
        parts = path[len(repo_prefix) :].split("/")
        if parts == ["pulls"]:
            return self._collection(method, query, body)
        if len(parts) < 2 or parts[0] not in {"pulls", "issues"} or not parts[1].isdigit():
            return 404, _error("404")
        number = int(parts[1])
        pr = self.pulls.get(number)
        if pr is None:
            return 404, _error("404")
        action = "/".join([parts[0], *parts[2:]])
        return self._member(method, action, pr, body)

    def _collection(self, method: str, query: dict[str, list[str]], body: Any) -> Answer:
        if method == "POST":
            missing = [k for k in ("head", "base", "title") if not body.get(k)]
            if missing:
                error = _error("422_exists")
                error["errors"] = [{"resource": "PullRequest", "code": "missing_field", "field": missing[0]}]
                return 422, error
            clash = [
                p for p in self.pulls.values() if p["head"]["ref"] == body["head"] and p["state"] == "open"
            ]
            if clash:
                error = _error("422_exists")
                error["errors"][0]["message"] = f"A pull request already exists for platform:{body['head']}."
                return 422, error
            return 201, self.create_pull(body)
        if method == "GET":
            items = list(self.pulls.values())
            state = query.get("state", ["open"])[0]
            if state != "all":
                items = [p for p in items if p["state"] == state]
            if "head" in query:
                items = [p for p in items if p["head"]["label"] == query["head"][0]]
            if "base" in query:
                items = [p for p in items if p["base"]["ref"] == query["base"][0]]
            return 200, sorted(items, key=lambda p: -p["number"])
        return 404, _error("404")

    def _member(self, method: str, action: str, pr: dict[str, Any], body: Any) -> Answer:
        number = pr["number"]
        if action == "pulls" and method == "GET":
            return 200, pr
        if action == "pulls" and method == "PATCH":
            if body.get("state") == "closed" and pr["state"] == "open":
                pr.update(state="closed", closed_at=_now(), updated_at=_now())
            return 200, pr
        if action == "pulls/merge" and method == "PUT":
            if pr["state"] != "open":
                return 405, _error("405")
            merged = _fixture("merge.json")
            pr.update(
                state="closed",
                merged=True,
                merged_at=_now(),
                closed_at=_now(),
                merge_commit_sha=merged["sha"],
                merged_by=pr["user"],
            )
            return 200, merged
        if action == "pulls/reviews" and method == "POST":
            if body.get("event") == "APPROVE" and self.own_review_refused:
                return 422, _error("422_own_review")
            review = _fixture("review.json")
            state = {"APPROVE": "APPROVED", "COMMENT": "COMMENTED"}.get(body.get("event"), "PENDING")
            review.update(
                id=2300000000 + len(self.reviews[number]) + 1, body=body.get("body", ""), state=state
            )
            self.reviews[number].append(review)
            return 200, review
        if action == "issues/comments" and method == "POST":
            comment = _fixture("issue_comment.json")
            cid = 1900000000 + sum(len(c) for c in self.comments.values()) + 1
            comment.update(id=cid, body=body.get("body", ""), created_at=_now(), updated_at=_now())
            self.comments[number].append(comment)
            return 201, comment
        if action == "issues/comments" and method == "GET":
            return 200, self.comments[number]
        if action == "issues/labels" and method == "POST":
            names = body.get("labels", []) if isinstance(body, dict) else body
            labels = [label for label in _fixture("labels.json") if label["name"] in names]
            pr["labels"] = labels
            return 200, labels
        return 404, _error("404")
