"""What the pipeline reports to the owner of the move, and what a run ends in.

The pipeline runs stages; it does not change a decision's status or a service's placement. At the
two points where the move's state changes during a run (the gate's verdict, the apply) and when a run
fails, it tells a :class:`RunListener`; ``swen.moves`` implements it with the lifecycle. A run then
returns a :class:`PipelineOutcome`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from swen.domain.merge_requests import MergeRequest, PipelineRun
from swen.domain.models import Placement

PAUSED_REASON = "automation_paused: automatic applies are paused (`swen automation resume`, or approve)"
"""The gate's extra reason when automation is paused (the runner adds it; reviewers read it)."""


class OutcomeKind(StrEnum):
    WAITING = "waiting"
    """The gate asked for a person (or a stage-by-stage run stopped after its stage)."""
    APPLIED = "applied"
    DENIED = "denied"
    FAILED = "failed"


@dataclass(frozen=True)
class PipelineOutcome:
    kind: OutcomeKind
    run: PipelineRun


class RunListener(Protocol):
    """Records what a run did to the move (``swen.moves.driver.LifecycleListener``)."""

    def run_started(self, mr: MergeRequest, run: PipelineRun) -> None:
        """A run of a migration MR started (its decision is now in the pipeline)."""

    def may_auto_apply(self) -> bool:
        """False while automation is paused: an auto-approved change then waits for a person."""

    def gate_decided(
        self, mr: MergeRequest, *, outcome: str, reasons: list[str], approved_by: str | None
    ) -> bool:
        """Record the gate's verdict; True when the change may be applied now."""

    def applied(self, mr: MergeRequest, *, service: str, placement: Placement) -> None:
        """Terraform applied the MR and ``service`` runs at ``placement``."""

    def failed(self, mr: MergeRequest, detail: dict[str, Any], *, denied: bool) -> None:
        """The run failed (``denied``: the gate said deny)."""

    def synced(self, placements: dict[str, Placement]) -> None:
        """``main`` was applied as it is: where every service runs now."""
