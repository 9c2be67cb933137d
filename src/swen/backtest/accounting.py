"""What a placement path costs and how healthy it was, from the trace alone.

A path is a ``T x S`` array of candidate columns (``Grid.cand_pair``): where each service runs during
step t. Accounting, the same for every strategy:

* running cost of step t = hourly price of the pair x replicas x step hours;
* a migration happens at step t when the column differs from step t-1 (before step 0: the initial
  placement) and costs ``Grid.move_usd`` once (egress + downtime + risk, ``migration.MigrationCost``);
* credits: the strategy's own credit ledger (``credits.CreditRun``) burns by the path's own running
  cost on each provider; the credit applied is subtracted from the bill. ``cost_usd`` (the bill) is
  running + migration - credits; ``list_cost_usd`` is running + migration;
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
    credit_usd: FloatArray
    """Credits applied to the service's bill (its share of its providers' burnt balances)."""
    downtime_minutes: FloatArray
    """Cut-over downtime of the service's migrations (``Grid.downtime_min`` per move)."""
    slo_minutes: FloatArray
    slo_minutes_beyond_detection: FloatArray
    outage_minutes: FloatArray
    outage_steps: Int64Array
    slo_steps: Int64Array
    cumulative_usd: FloatArray

    @property
    def list_cost_usd(self) -> FloatArray:
        """Running plus migration cost before credits (what the oracle minimises)."""
        out: FloatArray = self.running_usd + self.migration_usd
        return out

    @property
    def cost_usd(self) -> FloatArray:
        """The bill: running + migration - credits applied."""
        out: FloatArray = self.running_usd + self.migration_usd - self.credit_usd
        return out

    @property
    def total_usd(self) -> float:
        return float(self.cost_usd.sum())

    def rank_key(self, service: int) -> tuple[int, int, float]:
        """What the oracle minimises for one service: (outage steps, SLO steps, list cost).

        Credits are shared by every service on a provider, so the per-service DP cannot weigh them:
        the oracle minimises list cost and its bill then counts the credits its own path burns."""
        return (
            int(self.outage_steps[service]),
            int(self.slo_steps[service]),
            float(self.list_cost_usd[service]),
        )


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
    credit = _credits(trace, running, pairs)
    latency = np.take_along_axis(trace.latency_ms, pairs, axis=1)
    availability = np.take_along_axis(trace.availability, pairs, axis=1)
    over_slo = ~(latency <= grid.slo_ms[None, :])
    down = ~(availability >= floors.availability)
    step_min = trace.step_s / 60.0
    slo_steps = over_slo.sum(axis=0).astype(np.int64)
    outage_steps = down.sum(axis=0).astype(np.int64)
    per_step_total = running.sum(axis=1) + move_cost.sum(axis=1) - credit.sum(axis=1)
    return Outcome(
        name=name,
        path=path16,
        running_usd=running.sum(axis=0),
        migration_usd=move_cost.sum(axis=0),
        migrations=moved.sum(axis=0).astype(np.int64),
        credit_usd=credit.sum(axis=0),
        downtime_minutes=moved.sum(axis=0) * grid.downtime_min,
        slo_minutes=slo_steps * step_min,
        slo_minutes_beyond_detection=_beyond(over_slo, detection_steps) * step_min,
        outage_minutes=outage_steps * step_min,
        outage_steps=outage_steps,
        slo_steps=slo_steps,
        cumulative_usd=np.cumsum(per_step_total),
    )


def _credits(trace: Trace, running: FloatArray, pairs: Int64Array) -> FloatArray:
    """``T x S`` credit applied to each service at each step, from a fresh ledger for this path."""
    out = np.zeros_like(running)
    run = trace.credit_run()
    if not trace.grants:
        return out
    provider = trace.index.pair_provider[pairs]
    for t in range(trace.steps):
        out[t] = run.step(t, running[t], provider[t])
    return out


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
