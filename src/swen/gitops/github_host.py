"""Pull requests on GitHub (PyGithub), mirrored in the store like the GitLab host's merge requests.

``external_id`` is the pull request's number. The API base URL is GitHub's (``https://api.github.com``)
or a GitHub Enterprise Server's (``https://HOST/api/v3``). Transient failures (5xx, connection errors)
of reads are retried a few times by PyGithub's ``GithubRetry``; creating a pull request is not retried
(the next attempt finds the one a lost answer left behind, by its branch, instead of duplicating it).
"""

from __future__ import annotations

from typing import Any

from swen.domain.errors import GitOpsError
from swen.domain.merge_requests import MergeRequest, MRKind, MRState
from swen.gitops.mr_hosts import _RemoteMR, _StoreBackedHost, marked, unmarked
from swen.gitops.repo import MAIN
from swen.store.mrs import MergeRequestRepository
from swen.store.repository import Store

__all__ = ["GITHUB_MAX_RETRIES", "GitHubMergeRequestHost"]

GITHUB_MAX_RETRIES = 3
"""Retries of 5xx/connection errors on reads (backoff 0.1 s, 0.2 s, 0.4 s)."""
MAX_RATE_LIMIT_WAIT_S = 10.0
"""A rate limit that needs a longer wait is reported (transient) instead of blocking the pipeline."""

_HINTS = {
    401: "check SWEN_GITHUB_TOKEN (a fine-grained or classic token; it may have expired)",
    403: "the token needs 'Pull requests: read and write' and 'Contents: read' on the repository",
    404: "check SWEN_GITHUB_REPOSITORY and SWEN_GITHUB_API_URL (GitHub also answers 404 when the token "
    "cannot see the repository)",
    405: "the pull request cannot be merged as it is (conflicts, failing required checks or reviews)",
    422: "GitHub refused the request as invalid; see its message",
}


def _detail(data: Any) -> str:
    """GitHub's error message and its per-field ``errors`` (documented "Validation Failed" shape)."""
    if not isinstance(data, dict):
        return str(data or "no message")
    message = str(data.get("message") or "no message")
    errors = data.get("errors")
    if isinstance(errors, list):
        parts = [str(e.get("message") or e.get("code")) if isinstance(e, dict) else str(e) for e in errors]
        if parts:
            message = f"{message}: {'; '.join(parts)}"
    return message


def _github_error(exc: Exception, action: str) -> GitOpsError:
    from github import GithubException, RateLimitExceededException

    if isinstance(exc, GithubException):
        code = exc.status
        transient = code >= 500 or code == 429 or isinstance(exc, RateLimitExceededException)
        hint = "GitHub's rate limit; SWEN tries again later" if transient and code < 500 else _HINTS.get(code)
        return GitOpsError(
            f"GitHub {action} failed (HTTP {code}): {_detail(exc.data)}", hint=hint, transient=transient
        )
    return GitOpsError(
        f"GitHub {action} failed: {type(exc).__name__} ({exc})",
        hint="check SWEN_GITHUB_API_URL and the network; SWEN tries again later",
        transient=True,
    )


class GitHubMergeRequestHost(_StoreBackedHost):
    """Pull requests on GitHub (PyGithub), mirrored in the store."""

    name = "github"

    def __init__(
        self,
        store: Store,
        *,
        repository: str,
        token: str,
        api_url: str = "https://api.github.com",
        target_branch: str = MAIN,
        timeout_s: int = 15,
        seconds_between_requests: float = 0.25,
        seconds_between_writes: float = 1.0,
    ) -> None:
        """The pauses between requests are PyGithub's defaults, GitHub's advice against its secondary
        rate limit; only a test against a local server sets them to 0."""
        from github import Auth, Github, GithubRetry

        self.mrs = MergeRequestRepository(store)
        self.target_branch = target_branch
        self.repository = repository
        self.owner = repository.split("/", 1)[0]
        retry = GithubRetry(
            total=GITHUB_MAX_RETRIES,
            backoff_factor=0.1,
            max_rate_limit_wait=MAX_RATE_LIMIT_WAIT_S,
            allowed_methods=frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"}),
        )
        # lazy: objects are fetched when _pull asks, inside _call, never on an attribute read elsewhere
        self._gh = Github(
            base_url=api_url.rstrip("/"),
            auth=Auth.Token(token),
            timeout=timeout_s,
            retry=retry,
            per_page=100,
            lazy=True,
            seconds_between_requests=seconds_between_requests,
            seconds_between_writes=seconds_between_writes,
        )
        self._repo = self._gh.get_repo(repository)

    def __repr__(self) -> str:
        return f"GitHubMergeRequestHost(repository={self.repository!r}, token=**********)"

    def _call(self, action: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        import requests
        from github import GithubException

        try:
            return fn(*args, **kwargs)
        except (GithubException, requests.RequestException) as exc:
            raise _github_error(exc, action) from None

    def _pull(self, mr: MergeRequest) -> Any:
        if mr.external_id is None:
            raise GitOpsError(
                f"merge request {mr.id} has no GitHub pull request number",
                hint="it was not created on GitHub",
            )
        pull = self._repo.get_pull(int(mr.external_id))  # lazy: no request yet
        self._call("reading a pull request", pull.update)
        return pull

    def _open_remote(self, branch: str, title: str, description: str, kind: MRKind) -> _RemoteMR:
        # A crash after GitHub created the pull request but before the row was stored: reuse it.
        found = self._call(
            "listing pull requests",
            lambda: list(
                self._repo.get_pulls(state="open", head=f"{self.owner}:{branch}", base=self.target_branch)
            ),
        )
        if found:
            pull = found[0]
        else:
            pull = self._call(
                "creating a pull request",
                self._repo.create_pull,
                base=self.target_branch,
                head=branch,
                title=title,
                body=description,
                maintainer_can_modify=False,
            )
            self._call("labelling a pull request", pull.add_to_labels, "swen", MRKind(kind).value)
        return _RemoteMR(external_id=str(pull.number), web_url=pull.html_url)

    def get(self, mr_id: int) -> MergeRequest:
        """The stored MR, refreshed from GitHub (a person may have merged or closed it there)."""
        mr = self.mrs.get(mr_id)
        if mr.external_id is None:
            return mr
        pull = self._pull(mr)
        state = (
            MRState.MERGED if pull.merged else MRState.CLOSED if pull.state == "closed" else MRState.OPENED
        )
        if state is not mr.state:
            return self.mrs.update(mr_id, action=f"synced_{state.value}", state=state)
        return mr

    def approve_remote(self, mr: MergeRequest) -> None:
        """An approving review. GitHub refuses one on a pull request its own token opened (HTTP 422),
        which is SWEN's case when one token opens and approves: the approval is then left as a comment
        review, and the person's approval recorded in SWEN is what the lifecycle acts on."""
        import requests
        from github import GithubException

        pull = self._pull(mr)
        try:
            pull.create_review(event="APPROVE", body="Approved in SWEN.")
            return
        except GithubException as exc:
            if exc.status != 422:
                raise _github_error(exc, "approving a pull request") from None
        except requests.RequestException as exc:
            raise _github_error(exc, "approving a pull request") from None
        self._call(
            "approving a pull request",
            pull.create_review,
            event="COMMENT",
            body="Approved in SWEN (GitHub does not let this token approve its own pull request).",
        )

    def _merge_remote(self, mr: MergeRequest) -> str | None:
        pull = self._pull(mr)
        status = self._call(
            "merging a pull request",
            pull.merge,
            commit_title=f"Merge branch '{mr.branch}' into {self.target_branch} (SWEN MR {mr.id})",
            merge_method="merge",
        )
        if not status.merged:
            raise GitOpsError(
                f"GitHub did not merge pull request #{mr.external_id}: {status.message}",
                hint=_HINTS[405],
            )
        sha: str | None = status.sha
        return sha

    def _close_remote(self, mr: MergeRequest, note: str) -> None:
        pull = self._pull(mr)
        self._call("commenting on a pull request", pull.create_issue_comment, note)
        self._call("closing a pull request", pull.edit, state="closed")

    def _last_comment(self, mr: MergeRequest) -> str | None:
        pull = self._pull(mr)
        comments = self._call("reading pull request comments", lambda: list(pull.get_issue_comments()))
        for comment in reversed(comments):
            body = unmarked(comment.body or "")
            if body is not None:
                return body
        return None

    def _comment_remote(self, mr: MergeRequest, body: str) -> None:
        pull = self._pull(mr)
        self._call("commenting on a pull request", pull.create_issue_comment, marked(body))
