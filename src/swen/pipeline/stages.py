"""What each pipeline stage does to a checked-out tree of the infra repository.

These functions know Terraform and git, not the store: the runner (``runner.py``) calls them, records
their logs and durations, and moves the decision through its lifecycle.

Which root is planned and applied, and which tfvars file it reads, is the settings' infra layout
(``swen.gitops.layout``: the template's ``infra/envs/sim`` and ``infra/terraform.tfvars`` by default).

Terraform state lives outside every worktree, at ``$SWEN_HOME/tfstate/sim.tfstate`` (another root:
``<root with - for />.tfstate``): worktrees are
thrown away after each stage, the state must not be. The root declares ``backend "local" {}`` and
the runner initialises it with ``-backend-config=path=<state>`` (through ``TF_CLI_ARGS_init``, so the
terraform runner needs no special flag). A root without that backend block would silently keep its
state inside the worktree; ``init_with_state`` checks the backend path after init and refuses.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from swen.config import Settings
from swen.domain.errors import GitOpsError, PipelineError
from swen.domain.models import Placement
from swen.gitops.layout import DEFAULT_ROOT, InfraLayout
from swen.gitops.repo import BOT_EMAIL, BOT_NAME, MAIN, REMOTE, InfraRepo
from swen.pipeline.plan_summary import PlanSummary, summarise_plan
from swen.pipeline.retry import DEFAULT_BACKOFF, Backoff, with_retry
from swen.pipeline.terraform import StageOutput, TerraformRunner, placements_from_outputs

SIM_ROOT = DEFAULT_ROOT
"""The template's offline root, planned and applied by default (``terraform_root`` chooses another)."""

_IDENTITY = {
    "GIT_AUTHOR_NAME": BOT_NAME,
    "GIT_AUTHOR_EMAIL": BOT_EMAIL,
    "GIT_COMMITTER_NAME": BOT_NAME,
    "GIT_COMMITTER_EMAIL": BOT_EMAIL,
}
_LOG_LIMIT = 200_000

T = TypeVar("T")


def state_path(settings: Settings, root: str | None = None) -> Path:
    """Where a root's Terraform state lives (outside every worktree, so it persists); default: the
    placement root (``terraform_root``)."""
    return (settings.home / "tfstate" / InfraLayout.from_settings(settings).state_name(root)).resolve()


@dataclass
class StageLog:
    """The log of one stage: the commands run and what they printed, plus the runner's notes."""

    parts: list[str] = field(default_factory=list)

    def command(self, output: StageOutput) -> StageOutput:
        shown = " ".join(output.command[:1] + tuple(a for a in output.command[1:] if not a.startswith("/")))
        self.parts.append(f"$ {shown}  ({output.duration_s:.2f} s)\n{output.log.rstrip()}")
        return output

    def note(self, text: str) -> None:
        self.parts.append(f"# {text}")

    def failure(self, exc: BaseException) -> None:
        tool_log = getattr(exc, "log", "")
        if tool_log:
            self.parts.append(str(tool_log).rstrip())
        self.parts.append(f"ERROR: {exc}")

    @property
    def text(self) -> str:
        joined = "\n".join(self.parts)
        return joined if len(joined) <= _LOG_LIMIT else "[... truncated ...]\n" + joined[-_LOG_LIMIT:]


@dataclass(frozen=True)
class PlanResult:
    summary: PlanSummary
    planfile: Path
    show_json: dict[str, Any]


def terraform_for(
    tree: Path, settings: Settings, *, with_state: bool, root: str | None = None
) -> TerraformRunner:
    """A terraform runner for ``root`` of ``tree`` (default: ``terraform_root``), reading the tree's
    placement file."""
    layout = InfraLayout.from_settings(settings)
    # terraform splits TF_CLI_ARGS_* shell-style: quote the path (SWEN_HOME may hold spaces or quotes)
    backend = shlex.quote(f"-backend-config=path={state_path(settings, root)}")
    extra_env = {"TF_CLI_ARGS_init": backend} if with_state else {}
    tfvars = layout.placements_in(tree)
    if not tfvars.is_file():
        raise PipelineError(
            f"{layout.placements_file} is missing from the infra repository",
            hint="set placements_file in swen.yaml to where the placement map lives "
            "(`swen init --adopt PATH` checks the repository), or run `swen init` for the template",
            stage="validate",
        )
    return TerraformRunner(
        layout.root_in(tree, root),
        var_files=[tfvars],
        fmt_dir=tree / layout.fmt_dir,
        binary=settings.terraform_bin,
        extra_env=extra_env,
    )


def _retrying(what: str, log: StageLog, backoff: Backoff, action: Callable[[], T]) -> T:
    def on_retry(attempt: int, exc: BaseException, delay: float) -> None:
        log.note(f"{what}: transient failure (attempt {attempt}), retrying in {delay:.1f} s: {exc}")

    return with_retry(action, what=what, backoff=backoff, on_retry=on_retry)


def validate_tree(tree: Path, settings: Settings, log: StageLog) -> None:
    """``terraform fmt -check`` (roots and placement file), then ``init -backend=false`` and
    ``validate`` of every root."""
    for i, root in enumerate(InfraLayout.from_settings(settings).roots):
        tf = terraform_for(tree, settings, with_state=False, root=root)
        try:
            if i == 0:
                log.command(tf.fmt_check())
            log.command(tf.init(backend=False))
            log.command(tf.validate())
        finally:
            tf.close()


def init_with_state(
    tf: TerraformRunner, settings: Settings, log: StageLog, backoff: Backoff, root: str | None = None
) -> None:
    """``terraform init`` against the persistent state file; refuse a root whose state would be lost."""
    state = state_path(settings, root)
    state.parent.mkdir(parents=True, exist_ok=True)
    _retrying("terraform init", log, backoff, lambda: log.command(tf.init()))
    configured = _backend_path(tf.root)
    if configured is None or Path(configured).resolve() != state:
        root = root or settings.terraform_root
        raise PipelineError(
            f"the terraform root {root} keeps its state inside the worktree (backend path {configured!r})",
            hint=f'declare `terraform {{ backend "local" {{}} }}` in {root} so SWEN can keep the '
            f"state at {state}",
            stage="plan",
        )


def _backend_path(root: Path) -> str | None:
    marker = root / ".terraform" / "terraform.tfstate"
    try:
        backend = json.loads(marker.read_text(encoding="utf-8")).get("backend") or {}
    except (OSError, ValueError):
        return None
    path = (backend.get("config") or {}).get("path")
    return str(path) if backend.get("type") == "local" and path else None


def plan_tree(
    tree: Path, settings: Settings, log: StageLog, *, name: str, backoff: Backoff = DEFAULT_BACKOFF
) -> PlanResult:
    """init (persistent state), ``plan -out``, ``show -json``, and the summary of the plan.

    With ``terraform_extra_roots`` each root is planned into ``<root>/<name>.tfplan``; the summary
    holds every root's changes (an extra root's addresses are prefixed ``<root>:``), ``planfile`` and
    ``show_json`` are the placement root's."""
    results = [_plan_root(tree, settings, log, root, name, backoff) for root in _roots(settings)]
    planfile, shown, summary = results[0]
    for root, (_file, _shown, more) in zip(_roots(settings)[1:], results[1:], strict=True):
        summary = _merged(summary, more, root)
    log.note(f"plan: {describe_summary(summary)}")
    return PlanResult(summary=summary, planfile=planfile, show_json=shown)


def _roots(settings: Settings) -> tuple[str, ...]:
    return InfraLayout.from_settings(settings).roots


def _plan_root(
    tree: Path, settings: Settings, log: StageLog, root: str, name: str, backoff: Backoff
) -> tuple[Path, dict[str, Any], PlanSummary]:
    tf = terraform_for(tree, settings, with_state=True, root=root)
    try:
        init_with_state(tf, settings, log, backoff, root)
        planfile = tf.root / f"{name}.tfplan"
        _retrying("terraform plan", log, backoff, lambda: log.command(tf.plan(planfile)))
        shown = tf.show_json(planfile)
    finally:
        tf.close()
    return planfile, shown, summarise_plan(shown)


def _merged(summary: PlanSummary, more: PlanSummary, root: str) -> PlanSummary:
    a, b = summary.counts, more.counts
    counts = a.model_copy(update={k: getattr(a, k) + getattr(b, k) for k in type(a).model_fields})
    changes = tuple(c.model_copy(update={"address": f"{root}:{c.address}"}) for c in more.resource_changes)
    return summary.model_copy(
        update={"resource_changes": summary.resource_changes + changes, "counts": counts}
    )


def describe_summary(summary: PlanSummary) -> str:
    c = summary.counts
    changes = ", ".join(f"{ch.action} {ch.address}" for ch in summary.resource_changes) or "no changes"
    return (
        f"{c.create} to add, {c.update} to change, {c.replace} to replace, {c.delete} to destroy ({changes})"
    )


def comparable(summary: PlanSummary) -> dict[str, Any]:
    """The parts of a summary that must not change between the policy check and the apply."""
    return summary.model_dump(mode="json", exclude={"terraform_version"})


def require_same_plan(
    expected: PlanSummary,
    actual: PlanSummary,
    *,
    problem: str,
    labels: tuple[str, str],
    hint: str,
    stage: str,
) -> None:
    """PipelineError (``problem``: ``labels[0]`` [expected], ``labels[1]`` [actual]) when ``actual``
    differs from ``expected`` in what must not change (``comparable``)."""
    if comparable(actual) != comparable(expected):
        was, now = labels
        raise PipelineError(
            f"{problem}: {was} [{describe_summary(expected)}], {now} [{describe_summary(actual)}]",
            hint=hint,
            stage=stage,
        )


def apply_planfile(
    tree: Path, settings: Settings, log: StageLog, planfile: Path, *, backoff: Backoff = DEFAULT_BACKOFF
) -> dict[str, Placement]:
    """Apply a saved plan of the placement root in ``tree``, then the extra roots' plans of the same
    name (``plan_tree``); return the applied placements (the placement root's outputs)."""
    tf = terraform_for(tree, settings, with_state=True)
    try:
        _retrying("terraform apply", log, backoff, lambda: log.command(tf.apply(planfile)))
        outputs = tf.output_json()
    finally:
        tf.close()
    for root in _roots(settings)[1:]:
        extra = terraform_for(tree, settings, with_state=True, root=root)
        try:
            extra_plan = extra.root / planfile.name
            _retrying(f"terraform apply ({root})", log, backoff, partial(_apply, extra, extra_plan, log))
        finally:
            extra.close()
    return placements_from_outputs(outputs)


def _apply(tf: TerraformRunner, planfile: Path, log: StageLog) -> StageOutput:
    return log.command(tf.apply(planfile))


def read_applied_placements(settings: Settings, tree: Path) -> dict[str, Placement]:
    """The placements in the persistent state (``terraform output -json`` of the root)."""
    log = StageLog()
    tf = terraform_for(tree, settings, with_state=True)
    try:
        init_with_state(tf, settings, log, DEFAULT_BACKOFF)
        return placements_from_outputs(tf.output_json())
    finally:
        tf.close()


def revert_main_to(repo: InfraRepo, *, good: str, bad: str, message: str, backoff: Backoff) -> str:
    """Put ``main`` back to the tree of commit ``good`` with one new commit on top of ``bad``; push.

    Used after a failed apply so that main says what is really applied. Works for fast-forward and
    merge-commit merges alike (it restores the tree, it does not replay history). Refuses when main has
    moved past ``bad`` (someone else changed it; a person must look).
    """
    repo.fetch()
    current = repo.rev_parse(f"{REMOTE}/{MAIN}")
    if current != bad:
        raise GitOpsError(
            f"main moved to {current[:10]} after the merge {bad[:10]}; not reverting automatically",
            hint="revert the merge on main by hand so that main matches the applied state",
        )
    tree = repo.git("rev-parse", f"{good}^{{tree}}")
    commit = repo.git("commit-tree", tree, "-p", bad, "-m", message, env=_IDENTITY)

    def push() -> str:
        return repo.git("push", "--porcelain", REMOTE, f"{commit}:refs/heads/{MAIN}")

    with_retry(push, what="push of the revert to main", backoff=backoff)
    repo.sync_main()
    return commit
