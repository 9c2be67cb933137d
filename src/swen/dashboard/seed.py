"""Demo data for the dashboard's screenshots, tests and benchmark: a real store filled by the real parts.

``seed_demo(home)`` builds a temporary platform the way ``swen up`` would fill it, only faster: the
real simulator writes telemetry (accelerated clock), the real engine loop stores its decisions, the
real committer opens a merge request for a stateful move on a real git remote and the real pipeline
runs it with real Terraform until the policy gate stops it for a person (``awaiting_approval``).
It also creates one viewer and one operator API key. Nothing here is a fake.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from swen.api.auth import Role
from swen.config import Settings
from swen.domain.decision import Decision, DecisionAction
from swen.domain.models import Service
from swen.store.keys import ApiKeyRepository
from swen.store.repository import Store

APPLIABLE = ("aws", "alibaba")
"""Providers with a Terraform module in the sim root (GCP is scored, not applied)."""


@dataclass(frozen=True)
class SeededPlatform:
    settings: Settings
    viewer_key: str
    operator_key: str
    waiting_mr_id: int | None
    samples: int
    decisions: int


def demo_settings(home: Path, **overrides: object) -> Settings:
    """Settings of a seeded platform in ``home`` (accelerated clock, local MR host, embedded SQLite)."""
    values: dict[str, object] = {"home": home, "sim_speed": 1e9, **overrides}
    return Settings(**values)  # type: ignore[arg-type]


VERIFY_STEPS = 4
"""Cycles simulated after an applied move so the engine can verify it (settings.verify_samples <= 4)."""


def _simulate(
    settings: Settings,
    store: Store,
    *,
    steps: int,
    interval_s: float,
    services: list[Service] | None,
    end: datetime,
) -> tuple[int, datetime]:
    """History at ``interval_s``, then one engine window at the normal interval; returns (samples, t)."""
    from swen.telemetry.runner import run_simulator

    recent = settings.window_size + 2
    window_start = end - timedelta(seconds=settings.sim_interval_s * (recent + VERIFY_STEPS))
    history = run_simulator(
        settings, store, start=window_start - timedelta(seconds=interval_s * steps), max_steps=steps,
        seed=11, interval_s=interval_s, services=services,
    )  # fmt: skip
    window = run_simulator(settings, store, start=window_start, max_steps=recent, seed=12, services=services)
    return history.samples + window.samples, window_start + timedelta(
        seconds=settings.sim_interval_s * recent
    )


def _manual_move(settings: Settings, store: Store) -> Decision | None:
    """A move the policy gate cannot auto-approve, built from the engine's own ranking.

    The engine only stores confident recommendations, so this takes a service the engine is unsure
    about (confidence <= 0.85, or stateful) and proposes its best other candidate on a provider with a
    Terraform module: the gate sends it to manual review, as it would an operator's own proposal.
    """
    from swen.loop import EngineLoop

    result = EngineLoop(settings, store).dry_run()
    if result is None:
        return None
    candidates = sorted(result.decisions, key=lambda d: (not d.stateful, d.confidence.value))
    for decision in candidates:
        if decision.action is DecisionAction.MIGRATE or (
            decision.confidence.value > 0.85 and not decision.stateful
        ):
            continue
        others = [s for s in decision.ranking if not s.is_current and s.placement.provider in APPLIABLE]
        if not others:
            continue
        target = others[0].placement
        return decision.model_copy(
            update={
                "id": f"{decision.id}-manual",
                "action": DecisionAction.MIGRATE,
                "target": target,
                "explanation": (
                    f"Move {decision.service} from {decision.current.key} to {target.key} "
                    f"(confidence {decision.confidence.value:.2f}): the policy gate asks a person."
                ),
            }
        )
    return None


def open_waiting_mr(settings: Settings, store: Store) -> int | None:
    """Propose a move the gate cannot auto-approve, run its pipeline to the gate; returns the MR id."""
    from swen.gitops.committer import Committer
    from swen.pipeline.runner import PipelineRunner

    decision = _manual_move(settings, store)
    if decision is None:
        return None
    runner = PipelineRunner(settings, store)
    runner.sync_state()
    store.save_decision(decision)
    mr = Committer(store, runner.repo, runner.host, terraform_bin=settings.terraform_bin).propose(decision)
    runner.run(mr.id)
    return mr.id


def seed_demo(
    home: Path,
    *,
    steps: int = 60,
    interval_s: float = 600.0,
    services: list[Service] | None = None,
    act: bool = True,
    waiting_mr: bool = True,
    end: datetime | None = None,
    settings: Settings | None = None,
) -> SeededPlatform:
    """Fill a fresh store in ``home``: telemetry, decisions, API keys and (optionally) MRs.

    ``steps`` simulator cycles ``interval_s`` apart, then one engine window at the normal interval,
    end at ``end`` (default: now), so "the last day" in the dashboard has data. With ``act`` the
    engine's recommendations go through git, the pipeline and Terraform, and are verified by the
    telemetry that follows; with ``waiting_mr`` one more move waits for a person at the policy gate.
    ``services`` replaces the packaged fleet (the benchmark's 200 services).
    """
    from swen.gitops.repo import init_infra_repo
    from swen.loop import EngineLoop, gitops_actuator
    from swen.telemetry.runner import run_simulator

    home.mkdir(parents=True, exist_ok=True)
    settings = settings or demo_settings(home)
    finish = (end or datetime.now(UTC)).replace(microsecond=0)
    with Store.open(settings) as store:
        samples, t = _simulate(
            settings, store, steps=steps, interval_s=interval_s, services=services, end=finish
        )
        if act or waiting_mr:
            init_infra_repo(settings)
        loop = EngineLoop(settings, store, actuator=gitops_actuator(settings, store) if act else None)
        loop.cycle()
        samples += run_simulator(
            settings, store, start=t, max_steps=VERIFY_STEPS, seed=13, services=services
        ).samples
        loop.cycle()
        mr_id = open_waiting_mr(settings, store) if waiting_mr else None
        keys = ApiKeyRepository(store)
        viewer = keys.create("dashboard-viewer", Role.VIEWER)[1]
        operator = keys.create("dashboard-operator", Role.OPERATOR)[1]
        decisions = len(store.list_decisions(limit=1000))
    return SeededPlatform(settings, viewer, operator, mr_id, samples, decisions)
