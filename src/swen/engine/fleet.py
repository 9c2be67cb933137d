"""Static per-service arrays the engine needs, built once per cycle from the fleet.

Everything here depends only on the services and the candidate placements, not on telemetry:
latency SLOs, GPU needs, replicas, state size, the current placement's index among the candidates,
the residency mask (allowed providers/regions) and which candidates offer the service's GPU model.

A caller that evaluates the same fleet every cycle (the backtest's replay) builds it once and passes it
as ``EngineInputs.fleet``, with :meth:`FleetArrays.moved` when a service's placement changes, instead
of rebuilding ``S x C`` masks in Python every cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from swen.domain.arrays import BoolArray, FloatArray, IntArray
from swen.domain.models import Offer, Placement, Service
from swen.engine.migration_cost import MigrationCost


@dataclass(frozen=True, eq=False)
class FleetArrays:
    """Per-service columns (length S) and per-(service, candidate) masks (S x C)."""

    services: tuple[Service, ...]
    placements: tuple[Placement, ...]
    current: tuple[Placement, ...]
    """The applied placement of each service (may be outside ``placements``)."""
    current_idx: IntArray
    """Index of the current placement among the candidates, -1 when it is not one of them."""
    slo_ms: FloatArray
    is_gpu: BoolArray
    replicas: FloatArray
    state_gb: FloatArray
    allowed: BoolArray
    """Residency: the candidate's provider and region are allowed for the service."""
    gpu_offered: BoolArray
    """The candidate offers the service's GPU model (always True for CPU-only services)."""

    @classmethod
    def build(
        cls,
        services: Sequence[Service],
        placements: Sequence[Placement],
        *,
        current: Mapping[str, Placement] | None = None,
        gpu_models: Mapping[str, Collection[str]] | None = None,
        undeployable: Mapping[str, str] | None = None,
    ) -> FleetArrays:
        """``current`` overrides ``Service.fleet_placement``; ``gpu_models`` maps placement key -> GPU models
        offered there (None: not checked here, a missing offer then shows as missing telemetry)."""
        index = {p.key: i for i, p in enumerate(placements)}
        cur = tuple((current or {}).get(s.name, s.fleet_placement) for s in services)
        return cls(
            services=tuple(services),
            names=tuple(s.name for s in services),
            placements=tuple(placements),
            current=cur,
            current_idx=np.array([index.get(p.key, -1) for p in cur], dtype=np.intp),
            slo_ms=np.array([s.latency_slo_ms for s in services], dtype=np.float64),
            is_gpu=np.array([s.shape.gpu_count > 0 for s in services], dtype=bool),
            replicas=np.array([s.replicas for s in services], dtype=np.float64),
            state_gb=np.array([s.state_gb for s in services], dtype=np.float64),
            allowed=_residency_mask(services, placements),
            gpu_offered=_gpu_mask(services, placements, gpu_models),
            undeployable=np.broadcast_to(
                np.array([p.provider in (undeployable or {}) for p in placements], dtype=bool),
                (len(services), len(placements)),
            ),
            undeployable_reasons=dict(undeployable or {}),
        )

    names: tuple[str, ...]
    """Service names, in order."""

    undeployable: BoolArray
    """The candidate's provider cannot be applied by this platform (scored, never chosen)."""
    undeployable_reasons: Mapping[str, str]
    """Provider -> why it cannot be applied."""
    _egress: list[tuple[Callable[[Placement, Placement], float], FloatArray]] = field(
        default_factory=list, repr=False
    )
    """``egress_known``'s memo (the same list in every fleet ``moved`` makes from this one)."""

    @cached_property
    def row_of(self) -> dict[str, int]:
        """Service name -> row (read only: shared by every cycle that uses this fleet)."""
        return {name: i for i, name in enumerate(self.names)}

    @cached_property
    def column_of(self) -> dict[str, int]:
        """Placement key -> column of the candidate arrays (read only, like ``row_of``)."""
        return {p.key: j for j, p in enumerate(self.placements)}

    @cached_property
    def stateful(self) -> BoolArray:
        return np.array([s.stateful for s in self.services], dtype=bool)

    def fixed_usd(self, migration: MigrationCost) -> FloatArray:
        """``migration.fixed_usd_array(services)``, kept for the last model asked (models are frozen):
        a replay asks it every cycle with the same one."""
        kept = self._fixed
        if kept and kept[0][0] is migration:
            return kept[0][1]
        values = migration.fixed_usd_array(self.services)
        kept[:] = [(migration, values)]
        return values

    @cached_property
    def memo(self) -> dict[str, Any]:
        """Arrays derived from this fleet alone, kept by the engine's modules for the cycles that
        reuse it (e.g. ``constraints``' fleet-only bits); a moved fleet starts with an empty one."""
        return {}

    @cached_property
    def _fixed(self) -> list[tuple[MigrationCost, FloatArray]]:
        return []

    def egress_known(self, lookup: Callable[[Placement, Placement], float]) -> FloatArray:
        """``C x C`` egress USD/GB between candidates already looked up with ``lookup`` (NaN: not
        yet), kept for the last lookup asked (by identity) and shared with :meth:`moved`'s fleets:
        a replay evaluates with the same lookup every cycle (``savings.egress_per_gb`` fills it)."""
        kept = self._egress
        if kept and kept[0][0] is lookup:
            return kept[0][1]
        n_c = len(self.placements)
        values = np.full((n_c, n_c), np.nan)
        kept[:] = [(lookup, values)]
        return values

    def moved(self, row: int, placement: Placement) -> FleetArrays:
        """The same fleet with service ``row`` now placed on ``placement``."""
        current = list(self.current)
        current[row] = placement
        current_idx = self.current_idx.copy()
        current_idx[row] = self.column_of.get(placement.key, -1)
        return replace(self, current=tuple(current), current_idx=current_idx)


def gpu_models_by_placement(offers: Iterable[Offer]) -> dict[str, frozenset[str]]:
    """Placement key -> GPU models offered there (``EngineInputs.gpu_models`` from catalog offers)."""
    models: dict[str, set[str]] = {}
    for offer in offers:
        found = models.setdefault(offer.placement.key, set())
        if offer.gpu_name:
            found.add(offer.gpu_name)
    return {key: frozenset(names) for key, names in models.items()}


def _residency_mask(services: Sequence[Service], placements: Sequence[Placement]) -> BoolArray:
    providers = np.array([p.provider for p in placements], dtype=object)
    regions = np.array([p.region for p in placements], dtype=object)
    mask = np.ones((len(services), len(placements)), dtype=bool)
    rows: dict[tuple[tuple[str, ...], tuple[str, ...]], BoolArray] = {}
    for i, service in enumerate(services):
        rule = (service.allowed_providers, service.allowed_regions)
        if rule == ((), ()):
            continue
        row = rows.get(rule)
        if row is None:
            row = np.ones(len(placements), dtype=bool)
            if rule[0]:
                row &= np.isin(providers, list(rule[0]))
            if rule[1]:
                row &= np.isin(regions, list(rule[1]))
            rows[rule] = row
        mask[i] = row
    return mask


def _gpu_mask(
    services: Sequence[Service],
    placements: Sequence[Placement],
    gpu_models: Mapping[str, Collection[str]] | None,
) -> BoolArray:
    mask = np.ones((len(services), len(placements)), dtype=bool)
    if gpu_models is None:
        return mask
    rows: dict[str, BoolArray] = {}
    for i, service in enumerate(services):
        model = service.shape.gpu_model
        if model is None:
            continue
        row = rows.get(model)
        if row is None:
            row = np.array([model in gpu_models.get(p.key, ()) for p in placements], dtype=bool)
            rows[model] = row
        mask[i] = row
    return mask
