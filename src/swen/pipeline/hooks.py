"""Wire the pipeline into ``swen.gitops.review``: an approval resumes a waiting run, a rejection ends it.

``install_review_hooks(settings_factory)`` registers two hooks. Each builds its own store handle and
runner when it fires (the hook only receives the merge request), so registering is cheap and can
happen at start-up of any process that approves or rejects (the CLI does it in
``cli/pipeline_cmds.register``; the API should call it in ``create_app``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from swen.config import Settings, load_settings
from swen.gitops import review
from swen.gitops.mr_hosts import MergeRequest
from swen.store.mrs import MergeRequestRepository
from swen.store.repository import Store

if TYPE_CHECKING:
    from swen.pipeline.runner import PipelineRunner

SettingsFactory = Callable[[], Settings]
_installed: dict[str, SettingsFactory] = {}


def install_review_hooks(settings_factory: SettingsFactory = load_settings) -> None:
    """Register the approval and rejection hooks (idempotent; the last factory given wins)."""
    _installed["settings"] = settings_factory
    review.on_approved(_resume_on_approval)
    review.on_rejected(_end_on_rejection)


def _runner_for(mr: MergeRequest) -> Iterator[PipelineRunner]:
    """A runner on the hook's store, only if that store knows this very MR (same branch, decision).

    A process that never configured SWEN (e.g. a test that imported the CLI) has no such store: the
    hook then does nothing instead of creating a database somewhere.
    """
    from swen.pipeline.runner import PipelineRunner  # terraform/regopy only when a hook fires

    settings = _installed["settings"]()
    url = settings.resolved_database_url
    if url.startswith("sqlite") and not Path(url.split("///", 1)[-1]).is_file():
        return
    with Store.open(settings, migrate=False) as store:
        known = MergeRequestRepository(store).get_by_branch(mr.branch)
        if known is None or known.id != mr.id or known.decision_id != mr.decision_id:
            return
        yield PipelineRunner(settings, store)


def _resume_on_approval(mr: MergeRequest) -> None:
    for runner in _runner_for(mr):
        runner.on_approved(mr)


def _end_on_rejection(mr: MergeRequest, by: str, reason: str) -> None:
    for runner in _runner_for(mr):
        runner.on_rejected(mr, by, reason)
