"""The (service, candidate placement) pairs the simulator samples, as flat numpy arrays.

Every service gets one pair per eligible candidate (the catalog's ``candidates`` with no exclusion
reason) plus its current placement, even when that one would now be excluded: the engine needs the
metrics of where the service runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from swen.domain.arrays import BoolArray, FloatArray, Int64Array
from swen.domain.errors import TelemetryError
from swen.domain.models import Offer, Placement, Service
from swen.telemetry.catalog import Catalog
from swen.telemetry.model import REGION_UTC_OFFSET_H


@dataclass(frozen=True)
class PairIndex:
    """Names behind the integer indices of the sample arrays (pair i is one row of every array)."""

    service_names: list[str]
    placements: list[Placement]
    providers: list[str]
    offers: list[Offer]
    """One per distinct (placement, instance type): the price 'market' of that offer."""
    gpu_markets: list[tuple[Placement, str]]
    pair_service: Int64Array
    pair_placement: Int64Array
    pair_offer: Int64Array
    pair_gpu_market: Int64Array
    """-1 for pairs without a GPU."""
    pair_provider: Int64Array
    pair_rtt_ms: FloatArray
    pair_users_utc_offset_h: FloatArray
    pair_replicas: FloatArray
    pair_simulated: BoolArray
    offer_list_price: FloatArray
    offer_provider: Int64Array
    gpu_market_provider: Int64Array

    @property
    def size(self) -> int:
        return int(self.pair_service.shape[0])

    def pairs_of(self, service_index: int) -> Int64Array:
        """Pair indices of one service (pairs are ordered by service, so this is a contiguous range)."""
        lo, hi = np.searchsorted(self.pair_service, [service_index, service_index + 1])
        return np.arange(lo, hi, dtype=np.int64)

    def pair_for(self, service_index: int, placement: Placement) -> int | None:
        """The pair of (service, placement), or None when that placement is not sampled for it."""
        try:
            p = self.placements.index(placement)
        except ValueError:
            return None
        pairs = self.pairs_of(service_index)
        hit = pairs[self.pair_placement[pairs] == p]
        return int(hit[0]) if hit.size else None


K = TypeVar("K")
_Row = tuple[int, int, int, int, float, float, bool]
"""(placement, offer, gpu market, provider, rtt ms, users' UTC offset, simulated price)."""


def _index(table: dict[K, int], key: K) -> int:
    return table.setdefault(key, len(table))


class _Builder:
    """Interns placements, providers, offers and GPU markets; one row template per distinct service
    situation (candidate list, users' region, current placement), shared by all services in it."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.placements: dict[Placement, int] = {}
        self.providers: dict[str, int] = {}
        self.offers: dict[tuple[Placement, str], int] = {}
        self.offer_list: list[Offer] = []
        self.gpu: dict[tuple[Placement, str], int] = {}
        self.templates: dict[tuple[int, Placement, Placement], list[_Row]] = {}
        self.members: dict[tuple[int, Placement, Placement], list[int]] = {}

    def add_service(self, s: int, service: Service) -> None:
        if self.catalog.best_offer(service.shape, service.fleet_placement) is None:
            raise TelemetryError(
                f"{service.name}: no offer in its current placement {service.fleet_placement}",
                hint="fix the service's shape or current placement in the fleet file",
            )
        candidates = self.catalog.candidates(service)
        key = (id(candidates), service.users_region, service.fleet_placement)
        if key not in self.templates:
            self.templates[key] = [
                self._row(service, placement, offer)
                for placement, offer, reason in candidates
                if offer is not None and (reason is None or placement == service.fleet_placement)
            ]
        self.members.setdefault(key, []).append(s)

    def _row(self, service: Service, placement: Placement, offer: Offer) -> _Row:
        key = (placement, offer.instance_type)
        if key not in self.offers:
            self.offers[key] = len(self.offer_list)
            self.offer_list.append(offer)
        gpu = -1 if offer.gpu_name is None else _index(self.gpu, (placement, offer.gpu_name))
        return (
            _index(self.placements, placement),
            self.offers[key],
            gpu,
            _index(self.providers, placement.provider),
            self.catalog.rtt_ms(service.users_region, placement),
            REGION_UTC_OFFSET_H.get(service.users_region.region, 0.0),
            offer.simulated,
        )

    def columns(self) -> tuple[Int64Array, list[npt.NDArray[np.generic]]]:
        """Pair columns ordered by service: (pair_service, [one array per _Row field])."""
        service_parts, row_parts = [], []
        for key, rows in self.templates.items():
            members = np.asarray(self.members[key], dtype=np.int64)
            service_parts.append(np.repeat(members, len(rows)))
            row_parts.append(np.tile(np.asarray(rows, dtype=object).reshape(len(rows), 7), (len(members), 1)))
        pair_service = np.concatenate(service_parts) if service_parts else np.zeros(0, dtype=np.int64)
        table = np.concatenate(row_parts) if row_parts else np.zeros((0, 7), dtype=object)
        order = np.argsort(pair_service, kind="stable")
        return pair_service[order], [table[order, i] for i in range(7)]


def build_pairs(services: Sequence[Service], catalog: Catalog) -> PairIndex:
    builder = _Builder(catalog)
    for s, service in enumerate(services):
        builder.add_service(s, service)
    pair_service, cols = builder.columns()
    providers = list(builder.providers)
    offers = builder.offer_list
    gpu_markets = list(builder.gpu)
    return PairIndex(
        service_names=[s.name for s in services],
        placements=list(builder.placements),
        providers=providers,
        offers=offers,
        gpu_markets=gpu_markets,
        pair_service=pair_service,
        pair_placement=cols[0].astype(np.int64),
        pair_offer=cols[1].astype(np.int64),
        pair_gpu_market=cols[2].astype(np.int64),
        pair_provider=cols[3].astype(np.int64),
        pair_rtt_ms=cols[4].astype(np.float64),
        pair_users_utc_offset_h=cols[5].astype(np.float64),
        pair_replicas=np.asarray([s.replicas for s in services], dtype=np.float64)[pair_service],
        pair_simulated=cols[6].astype(np.bool_),
        offer_list_price=np.asarray([o.price_hour_usd for o in offers], dtype=np.float64),
        offer_provider=np.asarray([providers.index(o.provider) for o in offers], dtype=np.int64),
        gpu_market_provider=np.asarray([providers.index(p.provider) for p, _ in gpu_markets], dtype=np.int64),
    )
