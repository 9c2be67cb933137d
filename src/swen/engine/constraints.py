"""Hard constraints: which (service, candidate) pairs may be scored at all, and why not.

Each violated constraint sets one bit in a ``uint16`` array (``S x C``); a candidate is feasible when
no bit is set. The human reasons are built only for the candidates a decision lists.

Constraints (bit, applies to the current placement?):

- RESIDENCY: provider/region not in the service's allowed lists (yes).
- NO_GPU_OFFER: the candidate has no offer with the service's GPU model (yes).
- MISSING: no telemetry for the cell, or no latency sample in the window (yes).
- STALE: newest sample older than ``stale_after_s`` (yes).
- LOW_AVAILABILITY: latest availability below ``availability_floor`` (yes: the current placement is
  then unhealthy, which makes the service an emergency when ``auto_emergency`` is on).
- LOW_GPU_AVAILABILITY: GPU services only, latest ``gpu_availability`` below
  ``gpu_availability_floor`` (no: the current placement already holds its GPUs).
- OVER_SLO: window p95 latency above the service's SLO (no: the SLO is a hard constraint for a *move*;
  the current placement stays comparable and simply scores 0 on latency).
- QUARANTINED: the (service, placement) was quarantined by self-healing (yes).
- UNDEPLOYABLE: the platform cannot apply a placement on that provider (e.g. no Terraform module
  ships for it); it is scored for comparison but never chosen (no: a service already there stays).
- SLO_HOLDDOWN: the service left this placement by an SLO repair less than ``slo_holddown_s`` ago
  (``EngineInputs.slo_left``): not a target again until then, so that a placement whose latency
  swings around the SLO does not draw the service back for its price and break the SLO again (no:
  it is never the current placement; nor does it bar an emergency, set by ``decide``).
"""

from __future__ import annotations

from collections.abc import Collection
from enum import IntFlag

import numpy as np
import numpy.typing as npt

from swen.domain.arrays import FloatArray
from swen.engine.fleet import FleetArrays

Flags = npt.NDArray[np.uint16]


class Constraint(IntFlag):
    RESIDENCY = 1
    NO_GPU_OFFER = 2
    MISSING = 4
    STALE = 8
    LOW_AVAILABILITY = 16
    LOW_GPU_AVAILABILITY = 32
    OVER_SLO = 64
    QUARANTINED = 128
    UNDEPLOYABLE = 256
    SLO_HOLDDOWN = 512


UNHEALTHY = Constraint.LOW_AVAILABILITY | Constraint.QUARANTINED
"""Bits that make the *current* placement unhealthy (an emergency)."""
NO_DATA = Constraint.MISSING | Constraint.STALE

WILDCARD = "*"


def constraint_flags(
    fleet: FleetArrays,
    *,
    p95_ms: FloatArray,
    availability: FloatArray,
    gpu_availability: FloatArray,
    age_s: FloatArray,
    stale_after_s: float,
    availability_floor: float,
    gpu_availability_floor: float,
    quarantined: npt.NDArray[np.bool_],
) -> Flags:
    """Bit flags of violated constraints for every (service, candidate)."""
    shape = p95_ms.shape
    is_current = current_mask(fleet, shape)
    flags = _fleet_flags(fleet, is_current).copy()

    def mark(mask: npt.NDArray[np.bool_], bit: Constraint) -> None:
        np.bitwise_or(flags, np.uint16(bit), out=flags, where=mask)

    missing = ~np.isfinite(age_s) | np.isnan(p95_ms)
    mark(missing, Constraint.MISSING)
    mark(~missing & (age_s > stale_after_s), Constraint.STALE)
    with np.errstate(invalid="ignore"):
        mark(availability < availability_floor, Constraint.LOW_AVAILABILITY)
        gpu_low = fleet.is_gpu[:, None] & (gpu_availability < gpu_availability_floor) & ~is_current
        mark(gpu_low, Constraint.LOW_GPU_AVAILABILITY)
        mark((p95_ms > fleet.slo_ms[:, None]) & ~is_current, Constraint.OVER_SLO)
    mark(quarantined, Constraint.QUARANTINED)
    return flags


def _fleet_flags(fleet: FleetArrays, is_current: npt.NDArray[np.bool_]) -> Flags:
    """The bits that depend on the fleet alone (residency, GPU offer, undeployable), computed once
    per fleet (``FleetArrays.memo``; a moved fleet is a new one). Read only."""
    kept = fleet.memo.get("constraint_flags")
    if kept is None:
        kept = np.zeros(is_current.shape, dtype=np.uint16)
        kept[~fleet.allowed] |= np.uint16(Constraint.RESIDENCY)
        kept[~fleet.gpu_offered] |= np.uint16(Constraint.NO_GPU_OFFER)
        kept[fleet.undeployable & ~is_current] |= np.uint16(Constraint.UNDEPLOYABLE)
        kept.flags.writeable = False
        fleet.memo["constraint_flags"] = kept
    out: Flags = kept
    return out


def current_mask(fleet: FleetArrays, shape: tuple[int, ...]) -> npt.NDArray[np.bool_]:
    """``S x C``: the service's current placement (read only: kept per fleet, ``FleetArrays.memo``)."""
    kept = fleet.memo.get("current_mask")
    if kept is None or kept.shape != shape:
        kept = np.zeros(shape, dtype=bool)
        rows = np.flatnonzero(fleet.current_idx >= 0)
        kept[rows, fleet.current_idx[rows]] = True
        kept.flags.writeable = False
        fleet.memo["current_mask"] = kept
    out: npt.NDArray[np.bool_] = kept
    return out


def quarantine_mask(fleet: FleetArrays, quarantined: Collection[tuple[str, str]]) -> npt.NDArray[np.bool_]:
    """``quarantined`` holds (service or "*", placement key or provider name) pairs."""
    mask = np.zeros((len(fleet.services), len(fleet.placements)), dtype=bool)
    if not quarantined:
        return mask
    rows = {s.name: i for i, s in enumerate(fleet.services)}
    for service, where in quarantined:
        cols = [j for j, p in enumerate(fleet.placements) if where in (p.key, p.provider)]
        if service == WILDCARD:
            mask[:, cols] = True
        elif service in rows:
            mask[rows[service], cols] = True
    return mask


def describe(
    flags: int,
    *,
    service_slo_ms: float,
    p95_ms: float,
    availability: float,
    gpu_availability: float,
    age_s: float,
    stale_after_s: float,
    availability_floor: float,
    gpu_availability_floor: float,
    gpu_model: str | None,
    undeployable_reason: str | None = None,
    left_ago_s: float | None = None,
    holddown_s: float | None = None,
) -> tuple[str, ...]:
    """Human reasons for the bits set in ``flags`` (one sentence fragment per constraint)."""
    reasons: list[str] = []
    if flags & Constraint.RESIDENCY:
        reasons.append("provider/region not allowed for this service (residency)")
    if flags & Constraint.NO_GPU_OFFER:
        reasons.append(f"no offer with GPU {gpu_model}")
    if flags & Constraint.MISSING:
        reasons.append("no telemetry in the window")
    if flags & Constraint.STALE:
        reasons.append(f"stale telemetry (last sample {age_s:.0f} s ago, limit {stale_after_s:.0f} s)")
    if flags & Constraint.LOW_AVAILABILITY:
        reasons.append(f"availability {availability:.2f} below the floor {availability_floor:.2f}")
    if flags & Constraint.LOW_GPU_AVAILABILITY:
        reasons.append(
            f"GPU availability {gpu_availability:.2f} below the floor {gpu_availability_floor:.2f}"
        )
    if flags & Constraint.OVER_SLO:
        reasons.append(f"p95 latency {p95_ms:.0f} ms above the SLO {service_slo_ms:.0f} ms")
    if flags & Constraint.QUARANTINED:
        reasons.append("quarantined by self-healing")
    if flags & Constraint.UNDEPLOYABLE:
        reasons.append(f"cannot be applied: {undeployable_reason or 'the provider cannot be deployed to'}")
    if flags & Constraint.SLO_HOLDDOWN:
        ago = _hours(left_ago_s)
        reasons.append(
            f"the service left it for breaking its SLO {ago} ago; not a target again for "
            f"{_hours(holddown_s)} after that (slo_holddown_s)"
        )
    return tuple(reasons)


def _hours(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "a while"
    return f"{seconds / 86400:.1f} days" if seconds >= 2 * 86400 else f"{seconds / 3600:.1f} h"
