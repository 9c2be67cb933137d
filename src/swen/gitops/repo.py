"""The infra repository: a thin GitPython wrapper that speaks in GitOps operations.

Everything here works on the local clone (``settings.infra_repo_path``) and its ``origin``
(``settings.infra_remote_url``). Commits on proposal branches are built with plumbing commands in a
private index (``read-tree``/``update-index``/``write-tree``/``commit-tree``), so proposing never touches
the clone's working tree and concurrent callers do not fight over it. Merges run in a throw-away
worktree. Git failures become ``GitOpsError`` carrying git's own message; only transient failures
(network, remote hung up, lock contention) are retried, with exponential backoff.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import git

from swen.config import Settings
from swen.domain.errors import GitOpsError, NotFoundError
from swen.gitops.branch import validate_branch_name
from swen.gitops.layout import InfraLayout
from swen.gitops.template import TFVARS_PATH, Template, copy_template, fleet_tfvars, locate_template

MAIN = "main"
REMOTE = "origin"
BOT_NAME = "SWEN"
BOT_EMAIL = "swen@localhost"
_IDENTITY_ENV = {
    "GIT_AUTHOR_NAME": BOT_NAME,
    "GIT_AUTHOR_EMAIL": BOT_EMAIL,
    "GIT_COMMITTER_NAME": BOT_NAME,
    "GIT_COMMITTER_EMAIL": BOT_EMAIL,
}
_GIT_TIMEOUT_S = 300.0
_BASE_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "echo", "LC_ALL": "C"}

_PERMANENT_MARKERS = (
    "hook declined",
    "[rejected]",
    "[remote rejected]",
    "non-fast-forward",
    "permission denied",
    "authentication failed",
    "does not appear to be a git repository",
    "not found",
    "conflict",
)
_TRANSIENT_MARKERS = (
    "could not resolve host",
    "connection timed out",
    "connection refused",
    "connection reset",
    "operation timed out",
    "did not complete in",  # GitPython's kill_after_timeout
    "the remote end hung up unexpectedly",
    "early eof",
    "rpc failed",
    "http 502",
    "http 503",
    "http 504",
    "error: 502",
    "error: 503",
    "temporarily unavailable",
    "index.lock",
    "unable to lock",
    "cannot lock ref",
)

T = TypeVar("T")


def is_transient(message: str) -> bool:
    """True when git's message describes a failure worth retrying (network, locks)."""
    low = message.lower()
    if any(marker in low for marker in _PERMANENT_MARKERS):
        return False
    return any(marker in low for marker in _TRANSIENT_MARKERS)


def _clean(stream: object) -> str:
    text = stream if isinstance(stream, str) else str(stream or "")
    text = re.sub(r"^\s*std(err|out): '?", "", text.strip()).rstrip("'").strip()
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip())


def _git_message(exc: git.GitCommandError) -> str:
    parts = [_clean(exc.stderr), _clean(exc.stdout)]
    return "\n".join(p for p in parts if p) or str(exc).strip()


def translate(exc: Exception, action: str) -> GitOpsError:
    """A git/GitPython exception as a GitOpsError that carries git's own message."""
    if isinstance(exc, git.GitCommandError):
        message = _git_message(exc)
        return GitOpsError(f"git {action} failed: {message}", transient=is_transient(message))
    if isinstance(exc, git.NoSuchPathError | git.InvalidGitRepositoryError):
        return GitOpsError(f"git {action} failed: {exc} is not a git repository", hint="run `swen init`")
    return GitOpsError(f"git {action} failed: {exc}")


@dataclass(frozen=True)
class RetryPolicy:
    """Retries for transient failures: ``attempts`` tries, delay ``base_delay_s * 2**n`` capped."""

    attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def run(self, action: str, fn: Callable[[], T]) -> T:
        delay = self.base_delay_s
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except GitOpsError as exc:
                if not exc.transient or attempt == self.attempts:
                    raise
            except git.GitCommandError as exc:
                err = translate(exc, action)
                if not err.transient or attempt == self.attempts:
                    raise err from None
            self.sleep(min(delay, self.max_delay_s))
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover


def is_local_remote(url: str) -> bool:
    """True for a filesystem path or file:// URL (not ssh/https/scp-like remotes)."""
    if url.startswith("file://"):
        return True
    if "://" in url:
        return False
    return not re.match(r"^[\w.-]+@[\w.-]+:", url)


def resolve_remote_url(url: str) -> str:
    """Local remotes as absolute paths (git resolves relative ones from the repo's own folder)."""
    if url.startswith("file://"):
        return url
    return str(Path(url).expanduser().resolve()) if is_local_remote(url) else url


class InfraRepo:
    """The local clone of the infra repository and its ``origin``."""

    def __init__(self, path: Path, *, retry: RetryPolicy | None = None) -> None:
        try:
            self.repo = git.Repo(path)
        except (git.NoSuchPathError, git.InvalidGitRepositoryError):
            raise NotFoundError(
                f"no infra repository at {path}", hint="run `swen init` or set SWEN_INFRA_REPO"
            ) from None
        self.path = Path(self.repo.working_tree_dir or path)
        self.retry = retry or RetryPolicy()

    @classmethod
    def open(cls, settings: Settings, *, retry: RetryPolicy | None = None) -> InfraRepo:
        return cls(settings.infra_repo_path, retry=retry)

    # --- low level ------------------------------------------------------------------------------
    def git(
        self, *args: str, env: dict[str, str] | None = None, strip: bool = True, cwd: Path | None = None
    ) -> str:
        """Run one git command in this repository (no shell); GitOpsError with git's message on failure."""
        runner = git.Git(str(cwd)) if cwd else self.repo.git
        try:
            out = runner.execute(
                ["git", *args],
                env={**_BASE_ENV, **(env or {})},
                strip_newline_in_stdout=strip,
                kill_after_timeout=_GIT_TIMEOUT_S,
            )
        except git.GitCommandError as exc:
            raise translate(exc, args[0]) from None
        return str(out)

    def _retrying(
        self, action: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> str:
        return self.retry.run(action, lambda: self.git(*args, env=env, cwd=cwd))

    @property
    def remote_url(self) -> str:
        return self.git("remote", "get-url", REMOTE)

    # --- reading --------------------------------------------------------------------------------
    def fetch(self) -> None:
        """Fetch origin (pruning deleted branches), retrying transient failures."""
        self._retrying("fetch", "fetch", "--prune", "--quiet", REMOTE)

    def remote_branches(self) -> dict[str, str]:
        """Branches on origin right now (``git ls-remote``), name -> commit sha."""
        out = self._retrying("ls-remote", "ls-remote", "--heads", REMOTE)
        heads: dict[str, str] = {}
        for line in out.splitlines():
            sha, _, ref = line.partition("\t")
            if ref.startswith("refs/heads/"):
                heads[ref.removeprefix("refs/heads/")] = sha
        return heads

    def rev_parse(self, ref: str) -> str:
        return self.git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")

    def read_file(self, ref: str, path: str = TFVARS_PATH) -> str:
        """Content of ``path`` at ``ref`` (e.g. ``origin/main``), exactly as stored."""
        return self.git("cat-file", "blob", f"{ref}:{path}", strip=False)

    def commit_message(self, ref: str) -> str:
        return self.git("log", "-1", "--format=%B", ref)

    # --- writing --------------------------------------------------------------------------------
    def commit_file(self, *, branch: str, base: str, path: str, content: str, message: str) -> str:
        """Create (or reset) local ``branch`` = ``base`` + one commit changing ``path`` to ``content``.

        Works in a private index; the clone's working tree and index are untouched. Returns the sha.
        """
        validate_branch_name(branch)
        base_sha = self.rev_parse(base)
        with tempfile.TemporaryDirectory(prefix="swen-commit-") as tmp:
            blob_file = Path(tmp) / "blob"
            blob_file.write_bytes(content.encode("utf-8"))
            msg_file = Path(tmp) / "message"
            msg_file.write_text(message, encoding="utf-8")
            blob = self.git("hash-object", "-w", "--no-filters", str(blob_file))
            listing = self.git("ls-tree", base_sha, "--", path)
            mode = listing.split(" ", 1)[0] if listing else "100644"
            index_env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self.git("read-tree", base_sha, env=index_env)
            self.git("update-index", "--add", "--cacheinfo", f"{mode},{blob},{path}", env=index_env)
            tree = self.git("write-tree", env=index_env)
            commit = self.git("commit-tree", tree, "-p", base_sha, "-F", str(msg_file), env=_IDENTITY_ENV)
        self.git("update-ref", f"refs/heads/{branch}", commit)
        return commit

    def push_branch(self, branch: str, *, replacing: str | None = None) -> None:
        """Push local ``branch`` to origin (same name); transient failures are retried.

        ``replacing``: the commit origin's branch must still be at, which the push then replaces (a
        re-cut branch; refused if someone else pushed meanwhile)."""
        validate_branch_name(branch)
        refspec = f"refs/heads/{branch}:refs/heads/{branch}"
        if replacing is None:
            self._retrying("push", "push", REMOTE, refspec)
        else:
            lease = f"--force-with-lease=refs/heads/{branch}:{replacing}"
            self._retrying("push", "push", lease, REMOTE, f"+{refspec}")

    def is_ancestor(self, commit: str, of: str) -> bool:
        """Whether ``commit`` is reachable from ``of`` (both refs or shas)."""
        return self._is_ancestor(self.rev_parse(commit), self.rev_parse(of))

    def delete_remote_branch(self, branch: str) -> None:
        """Delete ``branch`` on origin (and locally); a branch that is already gone is fine."""
        validate_branch_name(branch)
        if branch in self.remote_branches():
            self._retrying("push", "push", REMOTE, f":refs/heads/{branch}")
        if self.git("branch", "--list", branch):
            self.git("branch", "-D", branch)

    # --- worktrees (for the pipeline runner) ----------------------------------------------------
    def add_worktree(self, ref: str, path: Path) -> Path:
        """Check ``ref`` out (detached) into a new worktree at ``path``; fetch first for remote refs."""
        path = path.resolve()
        self.git("worktree", "add", "--detach", "--force", str(path), self.rev_parse(ref))
        return path

    def remove_worktree(self, path: Path) -> None:
        """Remove a worktree made by ``add_worktree`` (missing ones are pruned)."""
        path = path.resolve()
        if path.exists():
            try:
                self.git("worktree", "remove", "--force", str(path))
            except GitOpsError:
                shutil.rmtree(path, ignore_errors=True)
        self.git("worktree", "prune")

    @contextmanager
    def worktree(self, ref: str) -> Iterator[Path]:
        """A temporary detached worktree at ``ref``, removed afterwards."""
        tmp = Path(tempfile.mkdtemp(prefix="swen-wt-"))
        path = tmp / "tree"
        try:
            yield self.add_worktree(ref, path)
        finally:
            self.remove_worktree(path)
            shutil.rmtree(tmp, ignore_errors=True)

    # --- merging --------------------------------------------------------------------------------
    def merge_to_main(self, branch: str, *, message: str | None = None) -> str:
        """Merge ``origin/<branch>`` into ``origin/main`` and push main; return the new main sha.

        Fast-forwards when main has not moved, otherwise creates a merge commit. If main moves
        between merge and push, the merge is redone on the new main (bounded retries). A content
        conflict raises GitOpsError and changes nothing on origin.
        """
        validate_branch_name(branch)
        for attempt in range(3):
            self.fetch()
            head = self.rev_parse(f"{REMOTE}/{branch}")
            with self.worktree(f"{REMOTE}/{MAIN}") as tree:
                if self._is_ancestor(head, f"{REMOTE}/{MAIN}"):
                    return self.rev_parse(f"{REMOTE}/{MAIN}")  # already merged
                args = ["merge", "--no-edit", "-m", message or f"Merge branch '{branch}'", head]
                try:
                    self.git(*args, env=_IDENTITY_ENV, cwd=tree)
                except GitOpsError as exc:
                    if self._merging(tree):
                        self.git("merge", "--abort", cwd=tree)
                    raise GitOpsError(
                        f"cannot merge {branch} into {MAIN}: {exc.message}",
                        hint="main changed the same lines; close this merge request and propose again",
                    ) from None
                merged = self.git("rev-parse", "HEAD", cwd=tree)
                try:
                    self._retrying("push", "push", REMOTE, f"{merged}:refs/heads/{MAIN}")
                except GitOpsError as exc:
                    moved = "non-fast-forward" in exc.message or "fetch first" in exc.message
                    if moved and attempt < 2:
                        continue
                    raise
            # origin/main is the truth; a dirty local checkout must not turn a pushed merge into an error
            with suppress(GitOpsError):
                self.sync_main()
            return merged
        raise GitOpsError(f"main kept moving while merging {branch}", transient=True)

    def _is_ancestor(self, commit: str, of: str) -> bool:
        try:
            self.git("merge-base", "--is-ancestor", commit, of)
        except GitOpsError:
            return False
        return True

    def _merging(self, tree: Path) -> bool:
        try:
            self.git("rev-parse", "--verify", "--quiet", "MERGE_HEAD", cwd=tree)
        except GitOpsError:
            return False
        return True

    def sync_main(self) -> None:
        """Bring local ``main`` to ``origin/main`` (fast-forward of the checkout when it is on main)."""
        self.fetch()
        target = self.rev_parse(f"{REMOTE}/{MAIN}")
        current_branch = (
            self.git("symbolic-ref", "--quiet", "--short", "HEAD") if not self.repo.head.is_detached else ""
        )
        if current_branch == MAIN:
            self.git("merge", "--ff-only", "--quiet", target)
        else:
            self.git("update-ref", f"refs/heads/{MAIN}", target)


# --- init ---------------------------------------------------------------------------------------


@dataclass
class InitReport:
    repo_path: Path
    remote_url: str
    created_remote: bool = False
    created_repo: bool = False
    cloned: bool = False
    pushed_main: bool = False
    template_items: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _git_global(*args: str, cwd: Path | None = None) -> str:
    try:
        return str(git.Git(str(cwd) if cwd else None).execute(["git", *args], env=_BASE_ENV))
    except git.GitCommandError as exc:
        raise translate(exc, args[0]) from None


def _remote_heads(url: str) -> dict[str, str]:
    out = _git_global("ls-remote", "--heads", url)
    rows = (line.partition("\t") for line in out.splitlines())
    return {ref.removeprefix("refs/heads/"): sha for sha, _, ref in rows}


def _ensure_identity(repo: git.Repo) -> None:
    reader = repo.config_reader(config_level="repository")
    with repo.config_writer(config_level="repository") as writer:
        if not reader.has_option("user", "name"):
            writer.set_value("user", "name", BOT_NAME)
        if not reader.has_option("user", "email"):
            writer.set_value("user", "email", BOT_EMAIL)


def _remove_default(path: Path, report: InitReport, what: str) -> None:
    if path.exists():
        shutil.rmtree(path)
        report.notes.append(f"removed the old {what} at {path} (--force)")


def init_infra_repo(
    settings: Settings, *, force: bool = False, template_root: Path | None = None
) -> InitReport:
    """Create (or adopt) the infra repository and its origin; idempotent.

    * the embedded default: a bare ``origin`` at ``$SWEN_HOME/origin.git`` and a clone at
      ``$SWEN_HOME/infra`` whose first commit on ``main`` is the template;
    * ``SWEN_INFRA_REMOTE`` pointing at an existing remote with a ``main`` branch: clone it;
    * ``SWEN_INFRA_REPO`` pointing at an existing clone: adopt it and its ``origin`` (which must match
      ``SWEN_INFRA_REMOTE`` when that is set; a clone of the team's own without ``origin`` is refused,
      never given a made-up local one).
    An existing or cloned repository must match the settings' layout (root, placement file and
    variable: ``adopt.check_repository``); a blocking mismatch is a GitOpsError listing each one.
    With a fleet file of its own (SWEN_FLEET_FILE), a repository made from the template gets one
    placement entry per fleet service instead of the template's.
    ``force`` deletes and recreates only the embedded defaults under $SWEN_HOME, never paths the
    settings point at. A repository is built in a temporary folder and moved into place only after
    ``main`` was pushed, so a failed init leaves no half-made repository behind.
    """
    repo_path = settings.infra_repo_path
    remote = resolve_remote_url(settings.infra_remote_url)
    report = InitReport(repo_path=repo_path, remote_url=remote)
    if force:
        if settings.infra_repo is None:
            _remove_default(repo_path, report, "infra repository")
        if settings.infra_remote is None:
            _remove_default(Path(remote), report, "origin")
    if (repo_path / ".git").exists():
        _adopt_existing(repo_path, settings, report)
        return report
    if repo_path.exists() and any(repo_path.iterdir()):
        raise GitOpsError(
            f"{repo_path} exists and is not a git repository",
            hint="empty it, set SWEN_INFRA_REPO to another folder, or use `swen init --force` (default only)",
        )
    own_layout = not InfraLayout.from_settings(settings).is_default
    missing_local = is_local_remote(remote) and not remote.startswith("file://") and not Path(remote).exists()
    if own_layout and missing_local:
        raise _nothing_to_adopt(settings, repo_path, remote)  # before anything is created
    _ensure_local_bare(remote, report)
    if MAIN in _remote_heads(remote):
        repo_path.parent.mkdir(parents=True, exist_ok=True)
        _git_global("clone", "--quiet", "--origin", REMOTE, "--branch", MAIN, remote, str(repo_path))
        _ensure_identity(git.Repo(repo_path))
        report.cloned = True
        try:
            _require_layout(repo_path, settings, report)
        except GitOpsError:
            shutil.rmtree(repo_path, ignore_errors=True)  # ours: made a moment ago, and not usable
            raise
        return report
    if own_layout:
        raise _nothing_to_adopt(settings, repo_path, remote)
    _create_from_template(repo_path, remote, report, template_root, settings)
    return report


def _nothing_to_adopt(settings: Settings, repo_path: Path, remote: str) -> GitOpsError:
    return GitOpsError(
        f"terraform_root {settings.terraform_root!r} and placements_file {settings.placements_file!r} "
        f"describe a repository of your own, but there is none to adopt at {repo_path} "
        f"(and {remote} has no main)",
        hint="set infra_repo to your clone (check it first with `swen init --adopt PATH`) or "
        "infra_remote to its remote; or drop terraform_root/placements_file to start from the template",
    )


def _fleet_tfvars(template: Template, settings: Settings) -> str | None:
    """The template's tfvars with the fleet file's services (None: the packaged fleet, which the
    template's own entries already mirror)."""
    if settings.fleet_file is None:
        return None
    from swen.telemetry.fleet import load_fleet

    services = load_fleet(settings.fleet_file)
    return fleet_tfvars(
        template.tfvars.read_text(encoding="utf-8"),
        services,
        fleet_label=str(settings.fleet_file),
        terraform_bin=settings.terraform_bin,
    )


def _require_layout(repo_path: Path, settings: Settings, report: InitReport) -> None:
    """Check a repository of the team's own (infra_repo or infra_remote set) against the settings
    (``adopt.check_repository``); GitOpsError listing every blocking mismatch, notes for the rest. The
    embedded default under $SWEN_HOME was made from the template by SWEN and is not checked."""
    if settings.infra_repo is None and settings.infra_remote is None:
        return
    from swen.gitops.adopt import check_repository
    from swen.telemetry.fleet import load_fleet

    checked = check_repository(repo_path, settings, load_fleet(settings.fleet_file))
    problems = checked.blocking
    if problems:
        raise GitOpsError(
            f"{repo_path} does not match the settings: "
            + "; ".join(f"{c.what}: {c.detail}" for c in problems),
            hint=problems[0].fix + " (`swen init --adopt PATH` lists every check)",
        )
    report.notes.extend(f"{c.what}: {c.detail} ({c.fix})" for c in checked.mismatches)


def _ensure_local_bare(remote: str, report: InitReport) -> None:
    if is_local_remote(remote) and not remote.startswith("file://") and not Path(remote).exists():
        Path(remote).parent.mkdir(parents=True, exist_ok=True)
        git.Repo.init(remote, bare=True, initial_branch=MAIN)
        report.created_remote = True


def _adopt_existing(repo_path: Path, settings: Settings, report: InitReport) -> None:
    repo = git.Repo(repo_path)
    urls = {r.name: r.url for r in repo.remotes}
    wanted = resolve_remote_url(settings.infra_remote_url)
    if REMOTE not in urls and settings.infra_repo is not None:
        # a repository of the team's own: SWEN does not invent a remote for it (nothing is changed)
        command = f"git -C {repo_path} remote add {REMOTE} " + (
            settings.infra_remote if settings.infra_remote is not None else "URL"
        )
        raise GitOpsError(
            f"{repo_path} has no remote {REMOTE!r}; SWEN pushes its branches and merges to it",
            hint=f"add the team's remote ({command}), then run `swen init` again",
        )
    if REMOTE not in urls:
        _ensure_local_bare(wanted, report)
        repo.create_remote(REMOTE, wanted)
        report.notes.append(f"added remote {REMOTE} -> {wanted}")
    elif settings.infra_remote is not None and resolve_remote_url(urls[REMOTE]) != wanted:
        raise GitOpsError(
            f"{repo_path} has origin {urls[REMOTE]!r}, settings say {wanted!r}",
            hint="set SWEN_INFRA_REMOTE to the repository's origin, or fix the repository's remote",
        )
    else:
        wanted = resolve_remote_url(urls[REMOTE])
        if settings.infra_repo is None:
            _ensure_local_bare(wanted, report)
    report.remote_url = wanted
    _require_layout(repo_path, settings, report)  # before SWEN writes anything into the repository
    _ensure_identity(repo)
    report.notes.append(f"infra repository already present at {repo_path}")
    if MAIN not in _remote_heads(wanted) and MAIN in [h.name for h in repo.heads]:
        InfraRepo(repo_path)._retrying("push", "push", REMOTE, f"refs/heads/{MAIN}:refs/heads/{MAIN}")
        report.pushed_main = True


def _create_from_template(
    repo_path: Path, remote: str, report: InitReport, template_root: Path | None, settings: Settings
) -> None:
    template = locate_template(template_root)
    tfvars = _fleet_tfvars(template, settings)
    repo_path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{repo_path.name}.init-", dir=repo_path.parent))
    try:
        repo = git.Repo.init(staging, initial_branch=MAIN)
        _ensure_identity(repo)
        report.template_items = copy_template(template, staging)
        if tfvars is not None:
            (staging / TFVARS_PATH).write_text(tfvars, encoding="utf-8")
            report.notes.append(f"{TFVARS_PATH}: one entry per service of {settings.fleet_file}")
        infra = InfraRepo(staging)
        infra.git("add", "--all")
        infra.git(
            "commit", "--quiet", "-m", "swen: infra repository from the SWEN template", env=_IDENTITY_ENV
        )
        repo.create_remote(REMOTE, remote)
        infra._retrying("push", "push", "--set-upstream", REMOTE, f"{MAIN}:{MAIN}")
        infra.fetch()
        repo.close()
        if repo_path.exists():
            repo_path.rmdir()  # empty (checked by the caller)
        staging.rename(repo_path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report.created_repo = True
    report.pushed_main = True
