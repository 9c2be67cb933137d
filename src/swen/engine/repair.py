"""What makes a move an SLO repair, and the hold-down after one (pure; ``decide.evaluate`` uses both).

* :func:`sustained_breach`: the current placement breaks the service's latency SLO (the window's p95
  over it, as the engine has always judged a breach) in at least half of the window's samples: not a
  single slow sample. Such a service is repaired: moved to the best-scored candidate that meets the
  SLO even when that costs more, up to ``EngineParams.max_repair_cost_pct`` (docs/ENGINE.md,
  "Decision rules").
* :func:`left_by_repair`: the placement each service last left by an SLO repair and how long ago
  (``EngineInputs.slo_left``); ``decide`` holds it down (``Constraint.SLO_HOLDDOWN``) for
  ``EngineParams.slo_holddown_s`` so that a price move does not take the service straight back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from swen.domain.arrays import FloatArray, IntArray
from swen.domain.models import Placement
from swen.engine.fleet import FleetArrays
from swen.engine.window import SampleWindow


@dataclass(frozen=True, eq=False)
class Breach:
    """The current placement against the service's latency SLO (arrays of length S)."""

    breach: npt.NDArray[np.bool_]
    """The window's p95 latency at the current placement is over the SLO (how the engine has always
    judged a breach: the current placement then scores 0 on latency)."""
    over: IntArray
    """How many of the window's samples at the current placement are over the SLO (0 without a breach)."""
    sustained: npt.NDArray[np.bool_]
    """A breach over at least half of the window's samples: not a single spike."""


def sustained_breach(
    fleet: FleetArrays, window: SampleWindow, window_rows: IntArray | None, p95: FloatArray
) -> Breach:
    """Where the current placement breaks the SLO, and whether the breach is sustained: the window's p95
    over the SLO *and* at least half of the window's ``size`` samples over it. With a 10-sample window
    the p95 lies between the two largest samples, so one slow sample can put it over the SLO; a repair
    (which may cost more) waits for the breach to hold in 5 of the last 10 samples (5 cycles: 2.5 min
    live at 30 s a cycle, 25 min in a replay at 5 min a step)."""
    n = len(fleet.services)
    cur = fleet.current_idx
    rows = np.arange(n)
    cur_p95 = np.where(cur >= 0, p95[rows, np.maximum(cur, 0)], np.nan)
    breach = (cur >= 0) & (np.nan_to_num(cur_p95, nan=0.0) > fleet.slo_ms)
    over = np.zeros(n, dtype=np.intp)
    b_rows = np.flatnonzero(breach)
    if b_rows.size:
        w_rows = b_rows if window_rows is None else window_rows[b_rows]
        over[b_rows] = window.latency_count_above(w_rows, cur[b_rows], fleet.slo_ms[b_rows])
    return Breach(breach, over, breach & (2 * over >= window.size))


@dataclass(frozen=True, eq=False)
class HeldDown:
    """Per service (length S): the placement it last left by an SLO repair, and how long ago."""

    col: IntArray
    """Candidate index of the placement each service left by an SLO repair (-1: none)."""
    ago_s: FloatArray
    """Seconds since (inf: none)."""


def left_by_repair(
    fleet: FleetArrays, slo_left: Mapping[str, tuple[Placement, datetime]], now: datetime
) -> HeldDown:
    """Per service, the candidate it last left by an SLO repair and how long ago
    (``EngineInputs.slo_left``; entries for unknown services or placements are ignored)."""
    n = len(fleet.services)
    col = np.full(n, -1, dtype=np.intp)
    ago = np.full(n, np.inf)
    for name, (placement, when) in slo_left.items():
        i = fleet.row_of.get(name)
        j = fleet.column_of.get(placement.key)
        if i is not None and j is not None:
            col[i], ago[i] = j, (now - when).total_seconds()
    return HeldDown(col, ago)
