"""Merge-request hosts behind one protocol: the local store (embedded default), GitLab and GitHub.

All keep one row per merge request in the store (``swen.store.mrs``), so ids are the store's ids
everywhere (CLI, API, pipeline runs). The GitLab host (here) and the GitHub host
(``swen.gitops.github_host``) additionally create and drive the real merge/pull request through
python-gitlab or PyGithub (``external_id`` = GitLab iid or GitHub pull number) and mirror its state.

``merge`` means "the branch is on main of the infra remote afterwards" for every host: the local host
merges with git (``InfraRepo.merge_to_main``), GitLab and GitHub merge server-side.

``comment`` posts only on a real change: a body equal to the last comment SWEN posted on that merge
request is skipped. The store keeps the SHA-256 of that last comment per merge request
(``mr_comments``), so an unchanged comment costs no request to the host. Before posting a changed one,
GitLab and GitHub are asked for the last comment SWEN left there: a crash between posting and
recording leaves it on the host, and it is then recorded instead of posted twice. SWEN's comments end
with ``COMMENT_MARKER`` (an HTML comment, invisible on both hosts), which is how a host finds them
among people's comments.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from swen.config import Settings
from swen.domain.errors import ConflictError, GitOpsError, InvalidInputError
from swen.domain.merge_requests import MergeRequest, MRKind, MRState
from swen.gitops.branch import validate_branch_name
from swen.gitops.repo import MAIN
from swen.store.mrs import MergeRequestRepository
from swen.store.repository import Store

if TYPE_CHECKING:
    from swen.gitops.repo import InfraRepo

__all__ = [
    "COMMENT_MARKER",
    "GitLabMergeRequestHost",
    "LocalMergeRequestHost",
    "MRKind",
    "MRState",
    "MergeRequest",
    "MergeRequestHost",
    "make_host",
]

MAX_ACTOR_LENGTH = 128
GITLAB_MAX_RETRIES = 4
"""Retries of 429/5xx/connection errors (python-gitlab backs off 0.1 s, 0.2 s, ...; ~1.5 s in all)."""
MAX_REASON_LENGTH = 2000
MAX_COMMENT_LENGTH = 60_000
"""Below GitHub's 65,536-character limit on a comment (GitLab's is 1,000,000), with room for the marker."""
COMMENT_MARKER = "<!-- swen:comment -->"


class MergeRequestHost(Protocol):
    """Where merge requests live. Ids are store ids (``MergeRequest.id``)."""

    name: str

    def open(
        self, branch: str, title: str, description: str, decision_id: str, service: str, kind: MRKind
    ) -> MergeRequest: ...

    def get(self, mr_id: int) -> MergeRequest: ...

    def list(self, state: MRState | None = None, service: str | None = None) -> list[MergeRequest]: ...

    def approve(self, mr_id: int, by: str) -> MergeRequest: ...

    def approve_remote(self, mr: MergeRequest) -> None:
        """Mirror an approval the lifecycle recorded onto the host (nothing for the local host)."""

    def reject(self, mr_id: int, by: str, reason: str) -> MergeRequest: ...

    def merge(self, mr_id: int) -> MergeRequest: ...

    def close(self, mr_id: int, reason: str) -> MergeRequest: ...

    def find_by_branch(self, branch: str) -> MergeRequest | None: ...

    def comment(self, mr_id: int, body: str) -> bool:
        """Post ``body`` unless it equals the last comment SWEN posted on the MR; True when posted."""
        ...


def validate_actor(by: str) -> str:
    """A person or bot name for approvals: 1..128 printable characters."""
    cleaned = by.strip() if isinstance(by, str) else ""
    if not cleaned or len(cleaned) > MAX_ACTOR_LENGTH or not cleaned.isprintable():
        raise InvalidInputError(f"invalid approver name {by!r}", hint="use 1-128 printable characters")
    return cleaned


def validate_reason(reason: str) -> str:
    cleaned = reason.strip() if isinstance(reason, str) else ""
    if not cleaned or len(cleaned) > MAX_REASON_LENGTH:
        raise InvalidInputError("a reason is required (1-2000 characters)", hint="say why, e.g. 'too risky'")
    return cleaned


def validate_comment(body: str) -> str:
    cleaned = body.strip() if isinstance(body, str) else ""
    if not cleaned or len(cleaned) > MAX_COMMENT_LENGTH:
        raise InvalidInputError(
            f"a comment needs 1-{MAX_COMMENT_LENGTH} characters (got {len(cleaned)})",
            hint="shorten the plan or cost table, or link to it",
        )
    return cleaned


def marked(body: str) -> str:
    """``body`` as SWEN posts it: with the marker that lets it find its own comments again."""
    return f"{body}\n\n{COMMENT_MARKER}"


def unmarked(posted: str) -> str | None:
    """The body SWEN posted, or None when ``posted`` is not one of SWEN's comments."""
    text = posted.rstrip()
    if not text.endswith(COMMENT_MARKER):
        return None
    return text[: -len(COMMENT_MARKER)].strip()


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def _require_open(mr: MergeRequest, action: str) -> None:
    if not mr.is_open:
        raise ConflictError(
            f"merge request {mr.id} is {mr.state.value}; cannot {action} it",
            hint="only open merge requests can be approved, rejected or merged",
        )


@dataclass(frozen=True)
class _RemoteMR:
    """The host's own ids of a merge request it opened (none for the local host)."""

    external_id: str | None = None
    web_url: str | None = None


class _StoreBackedHost(ABC):
    """What both hosts do the same way on their store rows (``self.mrs``): the checks and the
    recorded outcome of open, approve, reject, merge and close. What each host does on its side in
    between is its ``_open_remote``, ``approve_remote``, ``_close_remote`` and ``_merge_remote``."""

    name: str
    mrs: MergeRequestRepository

    def open(
        self, branch: str, title: str, description: str, decision_id: str, service: str, kind: MRKind
    ) -> MergeRequest:
        validate_branch_name(branch)
        remote = self._open_remote(branch, title, description, kind)
        return self.mrs.create(
            decision_id=decision_id,
            service=service,
            branch=branch,
            host=self.name,
            title=title,
            description=description,
            kind=MRKind(kind),
            external_id=remote.external_id,
            web_url=remote.web_url,
        )

    def list(self, state: MRState | None = None, service: str | None = None) -> list[MergeRequest]:
        return self.mrs.list(state=state, service=service, limit=1000)

    def find_by_branch(self, branch: str) -> MergeRequest | None:
        return self.mrs.get_by_branch(branch)

    def comment(self, mr_id: int, body: str) -> bool:
        """Post ``body`` on the MR unless it equals the last comment SWEN posted there (a plan or a
        cost table is posted again only when it changed). True when posted."""
        body = validate_comment(body)
        digest = _digest(body)
        if self.mrs.last_comment_sha256(mr_id) == digest:
            return False
        mr = self.mrs.get(mr_id)
        if self._last_comment(mr) == body:  # posted before a crash kept no record of it
            self.mrs.record_comment(mr_id, sha256=digest, chars=len(body), posted=False)
            return False
        self._comment_remote(mr, body)
        self.mrs.record_comment(mr_id, sha256=digest, chars=len(body))
        return True

    @abstractmethod
    def _last_comment(self, mr: MergeRequest) -> str | None:
        """The body of the newest comment SWEN posted on ``mr`` (without the marker), if any."""

    @abstractmethod
    def _comment_remote(self, mr: MergeRequest, body: str) -> None:
        """Post ``body`` on the host, marked as SWEN's."""

    @abstractmethod
    def _open_remote(self, branch: str, title: str, description: str, kind: MRKind) -> _RemoteMR:
        """Open the merge request on the host (or find the one a crash left there)."""

    @abstractmethod
    def approve_remote(self, mr: MergeRequest) -> None:
        """Mirror an approval onto the host."""

    @abstractmethod
    def _close_remote(self, mr: MergeRequest, note: str) -> None:
        """Close ``mr`` on the host, leaving ``note`` as the reason."""

    @abstractmethod
    def _merge_remote(self, mr: MergeRequest) -> str | None:
        """Merge ``mr`` on the host; the merge commit's sha when the host tells it."""

    def approve(self, mr_id: int, by: str) -> MergeRequest:
        by = validate_actor(by)
        mr = self.mrs.get(mr_id)
        _require_open(mr, "approve")
        if mr.approved_by is not None:
            return mr  # already approved: approving twice changes nothing (GitLab refuses it)
        self.approve_remote(mr)
        return self.mrs.update(mr_id, action="approved", approved_by=by, detail={"by": by})

    def reject(self, mr_id: int, by: str, reason: str) -> MergeRequest:
        by, reason = validate_actor(by), validate_reason(reason)
        mr = self.mrs.get(mr_id)
        _require_open(mr, "reject")
        self._close_remote(mr, f"Rejected by {by}: {reason}")
        return self.mrs.update(
            mr_id, action="rejected", state=MRState.CLOSED, detail={"by": by, "reason": reason}
        )

    def merge(self, mr_id: int) -> MergeRequest:
        mr = self.mrs.get(mr_id)
        if mr.state is MRState.MERGED:
            return mr
        _require_open(mr, "merge")
        sha = self._merge_remote(mr)
        return self.mrs.update(mr_id, action="merged", state=MRState.MERGED, detail={"sha": sha})

    def close(self, mr_id: int, reason: str) -> MergeRequest:
        reason = validate_reason(reason)
        mr = self.mrs.get(mr_id)
        if mr.state is MRState.CLOSED:
            return mr
        _require_open(mr, "close")
        self._close_remote(mr, f"Closed by SWEN: {reason}")
        return self.mrs.update(mr_id, action="closed", state=MRState.CLOSED, detail={"reason": reason})


class LocalMergeRequestHost(_StoreBackedHost):
    """Merge requests kept in the store; merging is a git merge into main of the infra remote."""

    name = "local"

    def __init__(self, store: Store, repo: InfraRepo | None = None) -> None:
        self.mrs = MergeRequestRepository(store)
        self.store = store
        self.repo = repo

    def get(self, mr_id: int) -> MergeRequest:
        return self.mrs.get(mr_id)

    def _open_remote(self, branch: str, title: str, description: str, kind: MRKind) -> _RemoteMR:
        """The store is the local host: its row is the merge request."""
        return _RemoteMR()

    def approve_remote(self, mr: MergeRequest) -> None:
        """The store is the local host: the lifecycle's record is the approval."""

    def _close_remote(self, mr: MergeRequest, note: str) -> None:
        """The store is the local host: the recorded state is the closed MR."""

    def _last_comment(self, mr: MergeRequest) -> str | None:
        """The store is the local host: its record of the last comment is the only one."""
        return None

    def _comment_remote(self, mr: MergeRequest, body: str) -> None:
        """The store is the local host: the recorded comment (``mr_comments``, a ``commented``
        event) is the comment."""

    def _merge_remote(self, mr: MergeRequest) -> str | None:
        if self.repo is None:
            raise GitOpsError(
                "the local merge-request host needs the infra repository to merge",
                hint="build it with make_host(settings, store, InfraRepo.open(settings))",
            )
        return self.repo.merge_to_main(
            mr.branch, message=f"Merge branch '{mr.branch}' into {MAIN} (MR {mr.id})"
        )


def _gitlab_error(exc: Exception, action: str) -> GitOpsError:
    code = getattr(exc, "response_code", None)
    message = getattr(exc, "error_message", None) or str(exc)
    transient = code is None or code == 429 or (isinstance(code, int) and code >= 500)
    hint = {
        401: "check SWEN_GITLAB_TOKEN",
        403: "the token needs api scope and Developer access to the project",
        404: "check SWEN_GITLAB_URL and SWEN_GITLAB_PROJECT",
    }.get(code or 0)
    status = f" (HTTP {code})" if code else ""
    return GitOpsError(f"GitLab {action} failed{status}: {message}", hint=hint, transient=transient)


def _limit_retries(gl: Any, max_retries: int) -> None:
    """python-gitlab retries transient errors 10 times (~100 s) by default; SWEN gives up sooner."""
    original = gl.http_request

    def http_request(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("max_retries", max_retries)
        return original(*args, **kwargs)

    gl.http_request = http_request


class GitLabMergeRequestHost(_StoreBackedHost):
    """Merge requests on GitLab (python-gitlab), mirrored in the store."""

    name = "gitlab"

    def __init__(
        self,
        store: Store,
        *,
        url: str,
        token: str,
        project: str,
        target_branch: str = MAIN,
        timeout_s: float = 15.0,
        ssl_verify: bool = True,
    ) -> None:
        import gitlab

        self.mrs = MergeRequestRepository(store)
        self.target_branch = target_branch
        self._gl = gitlab.Gitlab(
            url, private_token=token, timeout=timeout_s, ssl_verify=ssl_verify, retry_transient_errors=True
        )
        _limit_retries(self._gl, GITLAB_MAX_RETRIES)
        self._project = self._gl.projects.get(project, lazy=True)

    def _call(self, action: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        import gitlab
        import requests

        try:
            return fn(*args, **kwargs)
        except (gitlab.exceptions.GitlabError, requests.RequestException) as exc:
            raise _gitlab_error(exc, action) from None

    def _lazy_mr(self, mr: MergeRequest) -> Any:
        if mr.external_id is None:
            raise GitOpsError(f"merge request {mr.id} has no GitLab iid", hint="it was not created on GitLab")
        return self._project.mergerequests.get(int(mr.external_id), lazy=True)

    def _open_remote(self, branch: str, title: str, description: str, kind: MRKind) -> _RemoteMR:
        # A crash after GitLab created the MR but before the row was stored: reuse GitLab's MR.
        found = self._call(
            "listing merge requests",
            self._project.mergerequests.list,
            source_branch=branch,
            state="opened",
            get_all=False,
        )
        if found:
            remote = found[0]
        else:
            payload = {
                "source_branch": branch,
                "target_branch": self.target_branch,
                "title": title,
                "description": description,
                "labels": f"swen,{MRKind(kind).value}",
                "remove_source_branch": False,
            }
            remote = self._call("creating a merge request", self._project.mergerequests.create, payload)
        return _RemoteMR(external_id=str(remote.iid), web_url=getattr(remote, "web_url", None))

    def get(self, mr_id: int) -> MergeRequest:
        """The stored MR, refreshed from GitLab (a person may have merged or closed it there)."""
        mr = self.mrs.get(mr_id)
        if mr.external_id is None:
            return mr
        remote = self._call("reading a merge request", self._project.mergerequests.get, int(mr.external_id))
        state = MRState(remote.state) if remote.state in {s.value for s in MRState} else None
        if state is not None and state is not mr.state:
            return self.mrs.update(mr_id, action=f"synced_{state.value}", state=state)
        return mr

    def approve_remote(self, mr: MergeRequest) -> None:
        self._call("approving a merge request", self._lazy_mr(mr).approve)

    def _merge_remote(self, mr: MergeRequest) -> str | None:
        result = self._call(
            "merging a merge request",
            self._lazy_mr(mr).merge,
            merge_commit_message=f"Merge branch '{mr.branch}' into {self.target_branch} (SWEN MR {mr.id})",
        )
        sha: str | None = (result or {}).get("merge_commit_sha") if isinstance(result, dict) else None
        return sha

    def _last_comment(self, mr: MergeRequest) -> str | None:
        notes = self._call(
            "reading merge request notes",
            self._lazy_mr(mr).notes.list,
            sort="desc",
            order_by="created_at",
            per_page=100,
            get_all=False,
        )
        for note in notes:
            body = None if getattr(note, "system", False) else unmarked(getattr(note, "body", "") or "")
            if body is not None:
                return body
        return None

    def _comment_remote(self, mr: MergeRequest, body: str) -> None:
        self._call("commenting on a merge request", self._lazy_mr(mr).notes.create, {"body": marked(body)})

    def _close_remote(self, mr: MergeRequest, note: str) -> None:
        remote = self._lazy_mr(mr)
        self._call("commenting on a merge request", remote.notes.create, {"body": note})
        remote.state_event = "close"
        self._call("closing a merge request", remote.save)


def make_host(settings: Settings, store: Store, repo: InfraRepo | None = None) -> MergeRequestHost:
    """The host the settings choose (SWEN_MR_HOST): local (default), gitlab or github."""
    if settings.mr_host == "github":
        from swen.gitops.github_host import GitHubMergeRequestHost

        assert settings.github_repository and settings.github_token  # settings validate
        return GitHubMergeRequestHost(
            store,
            repository=settings.github_repository,
            token=settings.github_token.get_secret_value(),
            api_url=settings.github_api_url,
        )
    if settings.mr_host == "gitlab":
        assert settings.gitlab_url and settings.gitlab_token and settings.gitlab_project  # settings validate
        return GitLabMergeRequestHost(
            store,
            url=settings.gitlab_url,
            token=settings.gitlab_token.get_secret_value(),
            project=settings.gitlab_project,
        )
    return LocalMergeRequestHost(store, repo)
