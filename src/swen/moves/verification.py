"""Verification of applied moves, in one place: the rule, the driver and the persisted state.

The rule is ``engine.verification.observe`` (pure: a streak of healthy samples from the new placement
verifies the move, a streak of unhealthy ones fails it). :class:`Verifier` feeds it each applied
move's samples from the new placement, newer than the last one it judged, and records the verdict
with the lifecycle. Everything is on one clock, the telemetry's: the streak's position is the last
sample timestamp it has seen, the move's time is the placement's (``lifecycle.platform_now``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from swen.config import Settings
from swen.domain.decision import DecisionStatus
from swen.domain.models import Placement, Service, TelemetrySample
from swen.engine.verification import Verdict, VerificationState, observe
from swen.moves.lifecycle import Lifecycle
from swen.store.repository import Store
from swen.store.state import StoredVerification


def load_verification(store: Store, decision_id: str) -> VerificationState:
    """The verification state of an applied decision (empty before its first sample was judged)."""
    stored = store.load_state(StoredVerification, decision_id=decision_id)
    if stored is None:
        return VerificationState()
    return VerificationState(
        healthy_streak=stored.healthy_streak,
        unhealthy_streak=stored.unhealthy_streak,
        last_ts=stored.last_ts,
        last_problem=stored.last_problem,
    )


def save_verification(store: Store, decision_id: str, state: VerificationState) -> None:
    value = StoredVerification(
        healthy_streak=state.healthy_streak,
        unhealthy_streak=state.unhealthy_streak,
        last_ts=state.last_ts,
        last_problem=state.last_problem,
    )
    store.save_state(value, decision_id=decision_id)


@dataclass
class VerificationReport:
    verified: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class Verifier:
    """Judges every applied move from the telemetry of its new placement (one call per engine cycle)."""

    def __init__(self, settings: Settings, store: Store, lifecycle: Lifecycle) -> None:
        self.settings = settings
        self.store = store
        self.lifecycle = lifecycle

    def run(
        self, services: Sequence[Service], placements: dict[str, Placement], newest: datetime | None
    ) -> VerificationReport:
        """``newest``: the newest telemetry tick the engine has seen (None: only the latest sample)."""
        report = VerificationReport()
        by_name = {s.name: s for s in services}
        records = self.store.placement_records()
        for stored in self.store.list_decisions(status=DecisionStatus.APPLIED, limit=1000):
            decision = stored.decision
            service, record = by_name.get(decision.service), records.get(decision.service)
            if service is None or record is None or record.decision_id != decision.id:
                continue
            target = placements[decision.service]
            state, verdict = self._judge(decision.id, service, target, newest)
            if verdict is Verdict.VERIFIED:
                detail = {"healthy_samples": state.healthy_streak, "placement": target.key}
                self.lifecycle.verified(decision.id, detail)
                report.verified.append(decision.id)
            elif verdict is Verdict.FAILED:
                reason = f"unhealthy after the move: {state.last_problem}"
                self.lifecycle.failed(decision.id, {"reason": reason, "placement": target.key})
                report.failed.append(decision.id)
        return report

    def _judge(
        self, decision_id: str, service: Service, target: Placement, newest: datetime | None
    ) -> tuple[VerificationState, Verdict]:
        state = load_verification(self.store, decision_id)
        verdict = Verdict.PENDING
        for sample in self._samples_since(service.name, target, state.last_ts, newest):
            state, verdict = observe(
                state,
                service,
                sample,
                needed=self.settings.verify_samples,
                availability_floor=self.settings.availability_floor,
            )
            if verdict is not Verdict.PENDING:
                break
        save_verification(self.store, decision_id, state)
        return state, verdict

    def _samples_since(
        self, service: str, target: Placement, since: datetime | None, newest: datetime | None
    ) -> list[TelemetrySample]:
        """Samples of ``service`` at ``target`` newer than ``since`` (only the newest when None)."""
        if since is None:
            latest = self.store.latest_samples(service=service, provider=target.provider)
            return [s for s in latest if s.region == target.region]
        rows = self.store.samples_between(
            start=since + timedelta(microseconds=1),
            end=(newest or since) + timedelta(microseconds=1),
            service=service,
            provider=target.provider,
        )
        return [s for s in rows if s.region == target.region]
