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


CHUNK_STEPS = 512
"""Steps accounted at a time (keeps the ``steps x services`` temporaries small on large fleets)."""


def account(
    name: str, trace: Trace, grid: Grid, path: npt.NDArray[np.integer], floors: Floors, detection_steps: int
) -> Outcome:
    """Cost and health of ``path`` (``T x S`` columns) on ``trace``."""
    path16 = np.asarray(path, dtype=np.int16)
    n_t, n_s = path16.shape
    s_idx = np.arange(n_s)
    run = trace.credit_run() if trace.grants else None
    rate = grid.replicas * trace.step_h
    running_s, move_s, credit_s = np.zeros(n_s), np.zeros(n_s), np.zeros(n_s)
    moves = np.zeros(n_s, dtype=np.int64)
    over_slo = np.empty((n_t, n_s), dtype=bool)
    down = np.empty((n_t, n_s), dtype=bool)
    per_step_total = np.empty(n_t)
    prev_row = grid.initial.astype(np.int16)
    for lo in range(0, n_t, CHUNK_STEPS):
        hi = min(lo + CHUNK_STEPS, n_t)
        cols = path16[lo:hi]
        pairs = grid.cand_pair[s_idx[None, :], cols]
        steps = np.arange(lo, hi)[:, None]
        if (pairs < 0).any():
            raise ValueError(f"{name}: the path uses a padding column")
        running = np.asarray(trace.hourly_cost_usd[steps, pairs], dtype=np.float64) * rate
        prev = np.vstack([prev_row[None, :], cols[:-1]])
        moved = prev != cols
        move_cost = np.where(moved, grid.move_usd[s_idx[None, :], prev, cols], 0.0)
        credit = np.zeros_like(running)
        if run is not None:
            provider = trace.index.pair_provider[pairs]
            for i in range(hi - lo):
                credit[i] = run.step(lo + i, running[i], provider[i])
        latency = trace.latency_ms[steps, pairs]
        availability = trace.availability[steps, pairs]
        over_slo[lo:hi] = ~(latency <= grid.slo_ms[None, :])
        down[lo:hi] = ~(availability >= floors.availability)
        running_s += running.sum(axis=0)
        move_s += move_cost.sum(axis=0)
        credit_s += credit.sum(axis=0)
        moves += moved.sum(axis=0)
        per_step_total[lo:hi] = running.sum(axis=1) + move_cost.sum(axis=1) - credit.sum(axis=1)
        prev_row = cols[-1]
    step_min = trace.step_s / 60.0
    slo_steps = over_slo.sum(axis=0).astype(np.int64)
    outage_steps = down.sum(axis=0).astype(np.int64)
    return Outcome(
        name=name,
        path=path16,
        running_usd=running_s,
        migration_usd=move_s,
        migrations=moves,
        credit_usd=credit_s,
        downtime_minutes=moves * grid.downtime_min,
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
