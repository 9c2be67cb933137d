"""One platform environment for the tests that carry moves out for real (git, and Terraform once a
pipeline runs): a SWEN home, its Settings and Store, the infra repository made by ``init_infra_repo``
from the SWEN template (a bare origin and a clone under the home), the ``MoveDriver`` with fast
retries, and optionally the ``EngineLoop`` acting through that driver.

``make_platform(home)`` also applies main once (``MoveDriver.sync``: Terraform on the sim root), as
``swen pipeline sync`` does; ``sync=False`` leaves that to the first pipeline run.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swen.config import Settings
from swen.domain.merge_requests import PipelineRun
from swen.gitops.committer import Committer
from swen.gitops.mr_hosts import LocalMergeRequestHost
from swen.gitops.repo import InfraRepo, RetryPolicy, init_infra_repo
from swen.loop import EngineLoop
from swen.moves.driver import MoveDriver
from swen.pipeline.notify import Notifier
from swen.pipeline.policy import PolicyGate
from swen.pipeline.retry import Backoff
from swen.pipeline.runner import PipelineRunner
from swen.pipeline.stages import state_path
from swen.store.repository import Store

TEST_TEMPLATE = Path(__file__).resolve().parents[1] / "fixtures" / "infra_template"
"""A smaller infra template (three services, comments to keep) for tests of the GitOps layer alone."""
FAST = Backoff(tries=3, first_s=0.05)
"""Retries of the pipeline and its notifications, short enough for tests."""


def git(*args: str, cwd: Path) -> str:
    """Run git in ``cwd`` and return what it printed (fails the test on a non-zero exit)."""
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@dataclass
class Platform:
    settings: Settings
    store: Store
    repo: InfraRepo
    host: LocalMergeRequestHost
    driver: MoveDriver
    loop: EngineLoop | None = None
    """The engine loop acting through ``driver`` (``make_platform(..., loop=True)``)."""

    @property
    def committer(self) -> Committer:
        return self.driver.committer

    @property
    def runner(self) -> PipelineRunner:
        return self.driver.runner

    def approve_and_apply(self, mr_id: int, by: str) -> PipelineRun:
        """What `swen mr approve` does: record the approval, then carry the move on here."""
        self.driver.approve(mr_id, by)
        outcome = self.driver.apply_now(mr_id)
        assert outcome is not None, f"MR {mr_id} was not applied after its approval"
        return outcome.run

    @property
    def origin(self) -> Path:
        return Path(self.settings.infra_remote_url)

    def main_tfvars(self) -> str:
        return git("show", "main:infra/terraform.tfvars", cwd=self.origin)

    def state_outputs(self) -> dict[str, dict[str, str]]:
        """The ``placements`` output straight from the persistent state file."""
        state = json.loads(state_path(self.settings).read_text())
        return dict(state["outputs"]["placements"]["value"])


def make_platform(
    home: Path,
    *,
    sync: bool = True,
    loop: bool = False,
    gate: PolicyGate | None = None,
    notify_urls: tuple[str, ...] = (),
    **settings: Any,
) -> Platform:
    """A platform in ``home`` (created if missing); ``settings`` are ``Settings`` fields
    (``database_url``, ``sim_speed``, ``verify_samples``, ...); ``gate`` replaces the policy gate,
    ``notify_urls`` are the apprise URLs the pipeline notifies."""
    home.mkdir(parents=True, exist_ok=True)
    config = Settings(home=home, notify_urls=notify_urls, **settings)
    init_infra_repo(config)
    store = Store.open(config)
    repo = InfraRepo.open(config, retry=RetryPolicy(sleep=lambda _s: None))
    host = LocalMergeRequestHost(store, repo)
    driver = MoveDriver(
        config,
        store,
        repo=repo,
        host=host,
        gate=gate,
        notifier=Notifier(store, config.notification_urls, backoff=FAST),
        backoff=FAST,
    )
    if sync:
        driver.sync()
    return Platform(
        config, store, repo, host, driver, EngineLoop(config, store, actuator=driver) if loop else None
    )
