"""A local fake GitLab (http.server on 127.0.0.1) replaying payloads shaped like GitLab's REST API v4.

Only what SWEN's GitLab merge-request host calls is served; every request is recorded so tests can
assert on method, path, query and body. No real GitLab runs here.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from support.fake_api import Answer, FakeApi

FIXTURES = Path(__file__).parents[1] / "fixtures" / "gitlab"
TOKEN = "glpat-test-token-0000"
PROJECT = "platform/infra"


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class FakeGitLab(FakeApi):
    def __init__(self) -> None:
        self.mrs: dict[int, dict[str, Any]] = {}
        self.notes: dict[int, list[dict[str, Any]]] = {}
        super().__init__()
        self.url = self.root

    def credentials(self, headers: Message) -> dict[str, Any]:
        return {"token": headers.get("PRIVATE-TOKEN")}

    def authorized(self, headers: Message) -> bool:
        return headers.get("PRIVATE-TOKEN") == TOKEN

    def unauthorized(self) -> Answer:
        return 401, {"message": "401 Unauthorized"}

    def unavailable(self, status: int) -> Answer:
        return status, {"message": f"{status} Service Unavailable"}

    def create_mr(self, body: dict[str, Any]) -> dict[str, Any]:
        iid = len(self.mrs) + 1
        mr = copy.deepcopy(_fixture("merge_request.json"))
        labels = body.get("labels", [])
        mr.update(
            id=1000 + iid,
            iid=iid,
            title=body["title"],
            description=body.get("description", ""),
            source_branch=body["source_branch"],
            target_branch=body["target_branch"],
            labels=labels.split(",") if isinstance(labels, str) else labels,
            created_at=_now(),
            updated_at=_now(),
            reference=f"!{iid}",
            references={"short": f"!{iid}", "relative": f"!{iid}", "full": f"{PROJECT}!{iid}"},
            web_url=f"https://gitlab.example.com/{PROJECT}/-/merge_requests/{iid}",
        )
        self.mrs[iid] = mr
        self.notes[iid] = []
        return mr

    # --- request handling -----------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Answer:
        prefix = "/api/v4/projects/"
        if not path.startswith(prefix):
            return 404, {"message": "404 Not Found"}
        rest = path[len(prefix) :]
        project, _, tail = rest.partition("/")
        if unquote(project) not in (PROJECT, "42"):
            return 404, {"message": "404 Project Not Found"}
        parts = tail.split("/")
        if parts[0] != "merge_requests":
            return 404, {"message": "404 Not Found"}
        if len(parts) == 1:
            return self._collection(method, query, body)
        mr = self.mrs.get(int(parts[1]))
        if mr is None:
            return 404, {"message": "404 Not found"}
        action = parts[2] if len(parts) > 2 else ""
        return self._member(method, action, mr, body)

    def _collection(self, method: str, query: dict[str, list[str]], body: Any) -> Answer:
        if method == "POST":
            missing = [k for k in ("source_branch", "target_branch", "title") if not body.get(k)]
            if missing:
                return 400, {"error": f"{', '.join(missing)} is missing"}
            clash = [
                m
                for m in self.mrs.values()
                if m["source_branch"] == body["source_branch"] and m["state"] == "opened"
            ]
            if clash:
                msg = f"Another open merge request already exists for this source branch: !{clash[0]['iid']}"
                return 409, {"message": [msg]}
            return 201, self.create_mr(body)
        if method == "GET":
            items = list(self.mrs.values())
            for key in ("state", "source_branch", "target_branch"):
                if key in query and query[key][0] != "all":
                    items = [m for m in items if m[key] == query[key][0]]
            return 200, sorted(items, key=lambda m: -m["iid"])
        return 405, {"message": "405 Method Not Allowed"}

    def _member(self, method: str, action: str, mr: dict[str, Any], body: Any) -> Answer:
        if method == "GET" and action == "":
            return 200, mr
        if method == "POST" and action == "approve":
            approval = copy.deepcopy(_fixture("approval.json"))
            approval.update(id=mr["id"], iid=mr["iid"], title=mr["title"], updated_at=_now())
            return 201, approval
        if method == "POST" and action == "notes":
            note = copy.deepcopy(_fixture("note.json"))
            note.update(
                id=300 + sum(len(n) for n in self.notes.values()) + 1,
                body=body.get("body", ""),
                noteable_id=mr["id"],
                noteable_iid=mr["iid"],
                created_at=_now(),
            )
            self.notes[mr["iid"]].append(note)
            return 201, note
        if method == "GET" and action == "notes":  # the documented default order: newest first
            return 200, list(reversed(self.notes[mr["iid"]]))
        if method == "PUT" and action == "merge":
            if mr["state"] != "opened":
                return 405, {"message": "405 Method Not Allowed"}
            mr.update(
                state="merged",
                merged_at=_now(),
                merge_commit_sha="c0ffee" * 6 + "beef",
                merge_status="can_be_merged",
                detailed_merge_status="mergeable",
            )
            mr["merged_by"] = mr["merge_user"] = mr["author"]
            return 200, mr
        if method == "PUT" and action == "":
            if body.get("state_event") == "close":
                mr.update(state="closed", closed_at=_now(), updated_at=_now())
                mr["closed_by"] = mr["author"]
            return 200, mr
        return 405, {"message": "405 Method Not Allowed"}
