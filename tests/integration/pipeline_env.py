"""Shared set-up for the pipeline integration tests (imported by test_pipeline_*.py).

A real infra repository made by ``init_infra_repo`` from the SWEN template (bare origin + clone in a
temp SWEN_HOME), a real store, real terraform on the sim root with its state applied once
(``sync_state``), and decisions built directly from the domain models.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gitops_helpers import git, make_score

from swen.config import Settings
from swen.domain.decision import (
    Confidence,
    Decision,
    DecisionAction,
    Savings,
)
from swen.domain.merge_requests import PipelineRun
from swen.domain.models import Placement, Weights
from swen.gitops.committer import Committer
from swen.gitops.mr_hosts import LocalMergeRequestHost
from swen.gitops.repo import InfraRepo, RetryPolicy, init_infra_repo
from swen.moves.driver import MoveDriver
from swen.pipeline.notify import Notifier
from swen.pipeline.policy import PolicyGate
from swen.pipeline.retry import Backoff
from swen.pipeline.runner import PipelineRunner
from swen.pipeline.stages import state_path
from swen.store.repository import Store

T0 = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)
FAST = Backoff(tries=3, first_s=0.05)


@dataclass
class PipelineEnv:
    settings: Settings
    store: Store
    repo: InfraRepo
    host: LocalMergeRequestHost
    committer: Committer
    driver: MoveDriver

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
        import json

        state = json.loads(state_path(self.settings).read_text())
        return dict(state["outputs"]["placements"]["value"])


def make_env(
    home: Path,
    *,
    webhook_url: str | None = None,
    database_url: str | None = None,
    gate: PolicyGate | None = None,
    sync: bool = True,
) -> PipelineEnv:
    settings = Settings(home=home, slack_webhook_url=webhook_url, database_url=database_url)
    init_infra_repo(settings)
    store = Store.open(settings)
    repo = InfraRepo.open(settings, retry=RetryPolicy(sleep=lambda _s: None))
    host = LocalMergeRequestHost(store, repo)
    driver = MoveDriver(
        settings,
        store,
        repo=repo,
        host=host,
        gate=gate,
        notifier=Notifier(store, webhook_url, backoff=FAST),
        backoff=FAST,
    )
    if sync:
        driver.sync()
    return PipelineEnv(settings, store, repo, host, driver.committer, driver)


def make_decision(
    decision_id: str,
    *,
    service: str = "service-1",
    current: str = "aws/us-east-1",
    target: str = "alibaba/ap-southeast-1",
    current_type: str = "m5.large",
    target_type: str = "ecs.g7.large",
    confidence: float = 0.92,
    current_cost: float = 140.16,
    target_cost: float = 110.0,
    stateful: bool = False,
    at: datetime = T0,
) -> Decision:
    """A migrate decision; cheaper and confident by default (the gate auto-approves it)."""
    cur, tgt = Placement.parse(current), Placement.parse(target)
    gross = current_cost - target_cost
    return Decision(
        id=decision_id,
        service=service,
        created_at=at + timedelta(seconds=sum(map(ord, decision_id)) % 3600),
        action=DecisionAction.MIGRATE,
        stateful=stateful,
        current=cur,
        target=tgt,
        ranking=(
            make_score(tgt, 1, target_type, current=False, cost=target_cost),
            make_score(cur, 2, current_type, current=True, cost=current_cost),
        ),
        excluded=(),
        confidence=Confidence(
            value=confidence,
            margin=0.13,
            margin_term=0.8,
            stability=1.0,
            stability_cycles=10,
            stability_window=10,
            freshness=1.0,
        ),
        savings=Savings(
            current_monthly_usd=current_cost,
            target_monthly_usd=target_cost,
            gross_monthly_usd=gross,
            credits_offset_monthly_usd=0.0,
            migration_cost_usd=4.5,
            amortisation_months=6.0,
            net_monthly_usd=gross - 0.75,
            cost_delta_pct=(target_cost - current_cost) / current_cost * 100,
        ),
        weights=Weights(),
        explanation=f"{target} is cheaper than {current} at similar latency.",
    )
