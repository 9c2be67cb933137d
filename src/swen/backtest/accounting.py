"""What a placement path costs and how healthy it was, from the trace alone.

A path is a ``T x S`` array of candidate columns (``Grid.cand_pair``): where each service runs during
step t. Accounting, the same for every strategy:

* running cost of step t = hourly price of the pair x replicas x step hours;
* a migration happens at step t when the column differs from step t-1 (before step 0: the initial
  placement) and costs ``Grid.move_usd`` once (state_gb x egress price);
* SLO-violation minutes: steps whose latency sample at the actual placement is above the SLO;
* outage minutes: steps whose availability at the actual placement is below the floor;
* SLO minutes beyond detection: per run of consecutive violating steps, the steps beyond the first
  ``detection_steps`` (the time the platform needs to notice and act).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from swen.backtest.trace import Floors, Grid, Trace
from swen.domain.arrays import BoolArray, FloatArray, Int64Array


@dataclass(frozen=True, eq=False)
class Outcome:
    """Per-service totals (length S) and the fleet's cumulative cost per step (length T)."""

    name: str
    path: npt.NDArray[np.int16]
    running_usd: FloatArray
    migration_usd: FloatArray
    migrations: Int64Array
    slo_minutes: FloatArray
    slo_minutes_beyond_detection: FloatArray
    outage_minutes: FloatArray
    outage_steps: Int64Array
    slo_steps: Int64Array
    cumulative_usd: FloatArray

    @property
    def cost_usd(self) -> FloatArray:
        out: FloatArray = self.running_usd + self.migration_usd
        return out

    @property
    def total_usd(self) -> float:
        return float(self.cost_usd.sum())

    def rank_key(self, service: int) -> tuple[int, int, float]:
        """What the oracle minimises for one service: (outage steps, SLO steps, cost)."""
        return (int(self.outage_steps[service]), int(self.slo_steps[service]), float(self.cost_usd[service]))


def account(
    name: str, trace: Trace, grid: Grid, path: npt.NDArray[np.integer], floors: Floors, detection_steps: int
) -> Outcome:
    """Cost and health of ``path`` (``T x S`` columns) on ``trace``."""
    path16 = np.asarray(path, dtype=np.int16)
    n_s = path16.shape[1]
    s_idx = np.arange(n_s)
    pairs = grid.cand_pair[s_idx[None, :], path16]
    if (pairs < 0).any():
        raise ValueError(f"{name}: the path uses a padding column")
    running = np.take_along_axis(trace.hourly_cost_usd, pairs, axis=1) * (grid.replicas * trace.step_h)
    prev = np.vstack([grid.initial[None, :].astype(np.int16), path16[:-1]])
    moved = prev != path16
    move_cost = np.where(moved, grid.move_usd[s_idx[None, :], prev, path16], 0.0)
    latency = np.take_along_axis(trace.latency_ms, pairs, axis=1)
    availability = np.take_along_axis(trace.availability, pairs, axis=1)
    over_slo = ~(latency <= grid.slo_ms[None, :])
    down = ~(availability >= floors.availability)
    step_min = trace.step_s / 60.0
    slo_steps = over_slo.sum(axis=0).astype(np.int64)
    outage_steps = down.sum(axis=0).astype(np.int64)
    per_step_total = running.sum(axis=1) + move_cost.sum(axis=1)
    return Outcome(
        name=name,
        path=path16,
        running_usd=running.sum(axis=0),
        migration_usd=move_cost.sum(axis=0),
        migrations=moved.sum(axis=0).astype(np.int64),
        slo_minutes=slo_steps * step_min,
        slo_minutes_beyond_detection=_beyond(over_slo, detection_steps) * step_min,
        outage_minutes=outage_steps * step_min,
        outage_steps=outage_steps,
        slo_steps=slo_steps,
        cumulative_usd=np.cumsum(per_step_total),
    )


def _beyond(bad: BoolArray, allowance: int) -> FloatArray:
    """Per column: steps of each run of True beyond its first ``allowance`` steps."""
    n_s = bad.shape[1]
    out = np.zeros(n_s)
    padded = np.vstack([np.zeros((1, n_s), dtype=bool), bad, np.zeros((1, n_s), dtype=bool)]).astype(np.int8)
    edges = np.diff(padded, axis=0)
    for s in np.flatnonzero(bad.any(axis=0)):
        starts = np.flatnonzero(edges[:, s] == 1)
        ends = np.flatnonzero(edges[:, s] == -1)
        out[s] = float(np.maximum(ends - starts - allowance, 0).sum())
    return out
