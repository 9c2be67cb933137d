"""Wire the pipeline into ``swen.gitops.review``: an approval resumes a waiting run, a rejection ends it.

``install_review_hooks(settings_factory)`` registers two hooks. Each builds its own store handle and
runner when it fires (the hook only receives the merge request), so registering is cheap and can
happen at start-up of any process that approves or rejects (the CLI does it in
``cli/pipeline_cmds.register``; the API should call it in ``create_app``).
"""

from __future__ import annotations

from collections.abc import Callable

from swen.config import Settings, load_settings
from swen.gitops import review
from swen.gitops.mr_hosts import MergeRequest
from swen.store.repository import Store

SettingsFactory = Callable[[], Settings]
_installed: dict[str, SettingsFactory] = {}


def install_review_hooks(settings_factory: SettingsFactory = load_settings) -> None:
    """Register the approval and rejection hooks (idempotent; the last factory given wins)."""
    _installed["settings"] = settings_factory
    review.on_approved(_resume_on_approval)
    review.on_rejected(_end_on_rejection)


def _resume_on_approval(mr: MergeRequest) -> None:
    from swen.pipeline.runner import PipelineRunner

    settings = _installed["settings"]()
    with Store.open(settings, migrate=False) as store:
        PipelineRunner(settings, store).on_approved(mr)


def _end_on_rejection(mr: MergeRequest, by: str, reason: str) -> None:
    from swen.pipeline.runner import PipelineRunner

    settings = _installed["settings"]()
    with Store.open(settings, migrate=False) as store:
        PipelineRunner(settings, store).on_rejected(mr, by, reason)
