"""Where each service runs now and what it costs per month: the one answer every reader uses.

A service runs at its **applied** placement (the store's placement record, written by the simulator
when the service first appears and by the pipeline when a move is applied) or, while none has been
applied, where the **fleet file** says (``Service.fleet_placement``).

Its monthly cost is the newest telemetry sample at that placement (its hourly price x 730, as
``TelemetrySample.instance_monthly_cost_usd``, is the price of ONE instance) times
the service's replicas; unknown (None) while that placement has no sample. Only the Store's public
methods are used (no SQL here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from swen.domain.models import Placement, Service
from swen.store.records import LatestPrice, PlacementRecord
from swen.store.repository import Store

PlacementSource = Literal["applied", "fleet file"]
"""Where the placement comes from: an applied placement record, or the fleet file's ``current``."""

_SampleKey = tuple[str, str, str]
"""(service, provider, region) of a sample."""


def service_monthly_cost(instance_monthly_usd: float, replicas: int) -> float:
    """Monthly cost of the whole service: one instance's monthly cost x its replicas."""
    return instance_monthly_usd * replicas


@dataclass(frozen=True, slots=True)
class RunningService:
    """Where one service runs now, since which decision, and what it costs there per month."""

    service: str
    placement: Placement
    source: PlacementSource
    decision_id: str | None
    """The decision whose move put the service there; None for an initial or fleet-file placement."""
    replicas: int
    instance_type: str | None
    """Of the newest sample at the placement; None without one."""
    instance_monthly_cost_usd: float | None
    """Hourly x 730 of ONE instance, from the newest sample at the placement; None without one."""
    sample_ts: datetime | None
    """Timestamp of the newest sample at the placement; None without one."""
    simulated_price: bool
    """True when that sample's price is synthetic (Alibaba Cloud)."""

    @property
    def monthly_cost_usd(self) -> float | None:
        """Monthly cost of the whole service: per instance x replicas (None without a sample)."""
        if self.instance_monthly_cost_usd is None:
            return None
        return service_monthly_cost(self.instance_monthly_cost_usd, self.replicas)


def running_services(
    store: Store,
    *,
    services: Sequence[Service] | None = None,
    records: Mapping[str, PlacementRecord] | None = None,
) -> dict[str, RunningService]:
    """Every service of the fleet (by name, in the fleet's order) with where it runs and its cost.

    ``services``: the fleet when the caller has already read it (default ``store.list_services()``);
    ``records``: the applied placements likewise (default ``store.placement_records()``). The newest
    sample at each place is always read now.
    """
    fleet = store.list_services() if services is None else services
    applied = store.placement_records() if records is None else records
    where = [_placement(svc, applied.get(svc.name)) for svc in fleet]
    places = [(svc.name, p.provider, p.region) for svc, p in zip(fleet, where, strict=True)]
    newest = _newest_by_key(store.latest_prices_at(places))
    return {svc.name: _running(svc, applied.get(svc.name), newest) for svc in fleet}


def running_service(store: Store, name: str) -> RunningService:
    """One service's answer (raises NotFoundError for an unknown service)."""
    service = store.get_service(name)
    record = store.placement_records().get(name)
    place = _placement(service, record)
    newest = _newest_by_key(store.latest_prices_at([(name, place.provider, place.region)]))
    return _running(service, record, newest)


def newest_sample_time(running: Iterable[RunningService]) -> datetime | None:
    """The newest sample time over the services' placements (None when none has a sample)."""
    return max((r.sample_ts for r in running if r.sample_ts is not None), default=None)


def _newest_by_key(prices: Iterable[LatestPrice]) -> dict[_SampleKey, LatestPrice]:
    return {(p.service, p.provider, p.region): p for p in prices}


def _placement(service: Service, record: PlacementRecord | None) -> Placement:
    return service.fleet_placement if record is None else record.placement


def _running(
    service: Service, record: PlacementRecord | None, newest: Mapping[_SampleKey, LatestPrice]
) -> RunningService:
    placement = _placement(service, record)
    sample = newest.get((service.name, placement.provider, placement.region))
    return RunningService(
        service=service.name,
        placement=placement,
        source="fleet file" if record is None else "applied",
        decision_id=None if record is None else record.decision_id,
        replicas=service.replicas,
        instance_type=None if sample is None else sample.instance_type,
        instance_monthly_cost_usd=None if sample is None else sample.instance_monthly_cost_usd,
        sample_ts=None if sample is None else sample.ts,
        simulated_price=False if sample is None else sample.simulated_price,
    )
