"""The price catalog: real AWS and GCP list prices, synthetic Alibaba offers, measured RTT and egress.

Data comes from the CSV files packaged in ``swen/data`` (copies of the project's data folder, with
SOURCES.md). The product never reads anything outside the package at run time.

* **AWS** rows are offers as they are (on-demand and spot price per hour).
* **GCP** GPU machines are priced in two catalog rows: a host-VM row (vCPU + RAM only, its source says
  "HOST VM ONLY ... comes with Nx MODEL") and an accelerator-only row (GPU only). An offer is composed
  as host VM + the accelerator row of the same model, count and region (e.g. a2-highgpu-1g + A100 x1).
  A host without its accelerator row, or an accelerator without a host (T4: it needs an N1 host VM and
  no N1 rows were pulled), is not offered. GCP GPU prices are "as published in the catalog"
  (SOURCES.md lists their known oddities).
* **Alibaba Cloud** offers are synthetic (``alibaba_simulated.csv``): every row must say SYNTHETIC in
  its source; those offers carry ``simulated=True``, which must stay visible wherever the price is.

Latency and egress rules (Alibaba proxies, intra-region RTT, fallbacks) are in ``network.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path

from swen.domain.errors import InvalidInputError, TelemetryError
from swen.domain.models import Offer, Placement, Service, ServiceShape
from swen.domain.names import validate_location_name
from swen.domain.providers import PROVIDERS
from swen.telemetry.csvrows import Row, read_rows
from swen.telemetry.network import EgressTable, LatencyTable, Location, measured_location

Candidate = tuple[Placement, Offer | None, str | None]
"""(placement, chosen offer or None, reason it is excluded or None when it is eligible)."""

PRICE_COLUMNS = (
    "provider",
    "region",
    "instance_type",
    "vcpus",
    "memory_gib",
    "gpu_name",
    "gpu_count",
    "price_hour_usd",
    "spot_price_hour_usd",
    "source",
)
ALIBABA_COLUMNS = (*PRICE_COLUMNS, "aws_proxy_region")
LATENCY_COLUMNS = (
    "src_provider",
    "src_region",
    "dst_provider",
    "dst_region",
    "min_rtt_ms",
    "avg_rtt_ms",
    "max_rtt_ms",
)
EGRESS_COLUMNS = ("src_provider", "src_region", "dst_provider", "dst_region", "usd_per_gb")
DATA_FILES = ("prices.csv", "alibaba_simulated.csv", "latency.csv", "egress.csv")

_HOST_VM = re.compile(r"HOST VM ONLY.*comes with (\d+)x ([A-Za-z0-9]+)")


class Catalog:
    """Offers per (provider, region) plus the network tables. Immutable once built."""

    def __init__(
        self,
        offers: Iterable[Offer],
        latency: LatencyTable,
        egress: EgressTable,
        proxies: dict[Location, Location] | None = None,
    ) -> None:
        self._offers: dict[Placement, list[Offer]] = {}
        for offer in offers:
            self._offers.setdefault(offer.placement, []).append(offer)
        for group in self._offers.values():
            group.sort(key=lambda o: (o.price_hour_usd, o.instance_type))
        self.latency = latency
        self.egress = egress
        self.proxies = dict(proxies or {})
        self._candidates: dict[tuple[object, ...], list[Candidate]] = {}

    # --- loading -----------------------------------------------------------------------------
    @classmethod
    def from_texts(
        cls, prices: str, alibaba: str, latency: str, egress: str, *, prices_label: str = "prices.csv"
    ) -> Catalog:
        """Build from the four files' texts (``prices_label`` names the prices file in errors)."""
        offers = _aws_gcp_offers(read_rows(prices, prices_label, PRICE_COLUMNS))
        alibaba_offers, proxies = _alibaba_offers(
            read_rows(alibaba, "alibaba_simulated.csv", ALIBABA_COLUMNS)
        )
        offers.extend(alibaba_offers)
        _reject_duplicates(offers)
        return cls(
            offers,
            LatencyTable(read_rows(latency, "latency.csv", LATENCY_COLUMNS)),
            EgressTable(read_rows(egress, "egress.csv", EGRESS_COLUMNS)),
            proxies,
        )

    @classmethod
    def from_dir(cls, directory: Path) -> Catalog:
        """Load the four CSV files from ``directory`` (tests use this with edited copies)."""
        texts = [(directory / name).read_text(encoding="utf-8") for name in DATA_FILES]
        return cls.from_texts(*texts)

    # --- offers ------------------------------------------------------------------------------
    def offers(self, provider: str | None = None, region: str | None = None) -> list[Offer]:
        return [
            o
            for p, group in sorted(self._offers.items(), key=lambda kv: kv[0].key)
            for o in group
            if (provider is None or p.provider == provider) and (region is None or p.region == region)
        ]

    def providers(self) -> list[str]:
        return sorted({p.provider for p in self._offers})

    def regions(self, provider: str) -> list[str]:
        PROVIDERS.get(provider)  # unknown provider -> InvalidInputError listing the valid ones
        return sorted(p.region for p in self._offers if p.provider == provider)

    def placements(self) -> list[Placement]:
        return sorted(self._offers, key=lambda p: (p.provider, p.region))

    def knows(self, placement: Placement) -> bool:
        return placement in self._offers

    def check_placement(self, placement: Placement) -> None:
        """Raise InvalidInputError unless the provider is registered and the region is in the catalog."""
        PROVIDERS.get(placement.provider)
        if placement not in self._offers:
            known = ", ".join(self.regions(placement.provider)) or "none"
            raise InvalidInputError(
                f"unknown region {placement.region!r} for provider {placement.provider!r}",
                hint=f"known {placement.provider} regions: {known}",
            )

    def best_offer(self, shape: ServiceShape, placement: Placement) -> Offer | None:
        """The cheapest offer in ``placement`` with enough vCPU, memory and the GPU model and count."""
        return next((o for o in self._offers.get(placement, []) if _fits(o, shape)), None)

    def no_offer_reason(self, shape: ServiceShape, placement: Placement) -> str:
        group = self._offers.get(placement, [])
        if shape.gpu_model:
            models = sorted({o.gpu_name for o in group if o.gpu_name})
            if shape.gpu_model not in models:
                offered = ", ".join(models) or "no GPUs"
                return f"GPU {shape.gpu_model} not offered in {placement} (offered: {offered})"
            return (
                f"no {placement} instance with {shape.gpu_count}x {shape.gpu_model}, "
                f">= {shape.vcpus} vCPU and >= {shape.memory_gib:g} GiB"
            )
        return f"no {placement} instance with >= {shape.vcpus} vCPU and >= {shape.memory_gib:g} GiB memory"

    def candidates(self, service: Service) -> list[Candidate]:
        """Every known placement with its offer, or the reason it cannot host ``service``."""
        key = (service.shape, service.allowed_providers, service.allowed_regions)
        if key not in self._candidates:
            self._candidates[key] = [self._candidate(service, p) for p in self.placements()]
        return self._candidates[key]

    def _candidate(self, service: Service, placement: Placement) -> Candidate:
        offer = self.best_offer(service.shape, placement)
        if service.allowed_providers and placement.provider not in service.allowed_providers:
            allowed = ", ".join(service.allowed_providers)
            return placement, offer, f"provider {placement.provider} not in allowed_providers ({allowed})"
        if service.allowed_regions and placement.region not in service.allowed_regions:
            allowed = ", ".join(service.allowed_regions)
            return placement, offer, f"region {placement.region} not in allowed_regions ({allowed})"
        if offer is None:
            return placement, None, self.no_offer_reason(service.shape, placement)
        return placement, offer, None

    # --- network -----------------------------------------------------------------------------
    def measured(self, placement: Placement) -> Location:
        return measured_location(placement.provider, placement.region, self.proxies)

    def rtt_ms(self, users_region: Placement, placement: Placement) -> float:
        """Round trip from the users' region to ``placement`` (rules in network.py)."""
        return self.latency.rtt_ms(self.measured(users_region), self.measured(placement))

    def egress_usd_per_gb(self, src: Placement, dst: Placement) -> float:
        """Price of moving one GB from ``src`` to ``dst`` (rules in network.py)."""
        if src == dst:
            return 0.0
        src_loc, dst_loc = self.measured(src), self.measured(dst)
        proxied = src_loc != (src.provider, src.region) or dst_loc != (dst.provider, dst.region)
        if not proxied:
            price = self.egress.price(src_loc, dst_loc)
            if price is not None:
                return price
        return self.egress.internet_rate(src_loc)


@cache
def load_catalog() -> Catalog:
    """The packaged catalog (loaded once per process; the object is immutable)."""
    data = resources.files("swen").joinpath("data")
    texts = [data.joinpath(name).read_text(encoding="utf-8") for name in DATA_FILES]
    return Catalog.from_texts(*texts)


def _fits(offer: Offer, shape: ServiceShape) -> bool:
    if offer.vcpus < shape.vcpus or offer.memory_gib < shape.memory_gib:
        return False
    if shape.gpu_model is None:
        return offer.gpu_name is None
    return offer.gpu_name == shape.gpu_model and offer.gpu_count >= shape.gpu_count


def _location(row: Row) -> tuple[str, str]:
    provider, region = row.text("provider"), row.text("region")
    if provider not in PROVIDERS:
        raise row.fail(
            "provider", f"unknown provider {provider!r}", f"use one of {', '.join(PROVIDERS.names())}"
        )
    try:
        validate_location_name(region, "region")
    except InvalidInputError as exc:
        raise row.fail("region", exc.message, exc.hint or "") from None
    return provider, region


def _offer(row: Row, *, simulated: bool, **override: object) -> Offer:
    provider, region = _location(row)
    gpu_name = row.text("gpu_name", required=False) or None
    gpu_count = int(row.number("gpu_count", required=False) or 0)
    if (gpu_name is None) != (gpu_count == 0):
        raise row.fail("gpu_count", "gpu_name and gpu_count must be set together", "fill both or neither")
    fields: dict[str, object] = {
        "provider": provider,
        "region": region,
        "instance_type": row.text("instance_type"),
        "vcpus": int(row.required_number("vcpus", positive=True)),
        "memory_gib": row.required_number("memory_gib", positive=True),
        "gpu_name": gpu_name,
        "gpu_count": gpu_count,
        "price_hour_usd": row.required_number("price_hour_usd"),
        "spot_price_hour_usd": row.number("spot_price_hour_usd", required=False),
        "simulated": simulated,
        "source": row.text("source"),
    }
    fields.update(override)
    try:
        return Offer.model_validate(fields)
    except ValueError as exc:
        raise row.fail("instance_type", str(exc).splitlines()[0], "fix the row") from None


def _aws_gcp_offers(rows: Iterable[Row]) -> list[Offer]:
    offers: list[Offer] = []
    hosts: list[tuple[Row, int, str]] = []
    accelerators: dict[tuple[str, str, int], Row] = {}
    for row in rows:
        provider, region = _location(row)
        if PROVIDERS.get(provider).simulated_prices:
            raise row.fail(
                "provider",
                f"{provider} prices are synthetic",
                "put simulated offers in alibaba_simulated.csv, not prices.csv",
            )
        host = _HOST_VM.search(row.text("source"))
        if not row.text("instance_type", required=False):
            gpu_count = int(row.required_number("gpu_count", positive=True))
            accelerators[(region, row.text("gpu_name"), gpu_count)] = row
            row.required_number("price_hour_usd")
        elif host:
            hosts.append((row, int(host.group(1)), host.group(2)))
        else:
            offers.append(_offer(row, simulated=False))
    offers.extend(_composed_gpu_offers(hosts, accelerators))
    return offers


def _composed_gpu_offers(
    hosts: Sequence[tuple[Row, int, str]], accelerators: dict[tuple[str, str, int], Row]
) -> list[Offer]:
    """GCP: host VM + accelerator-only row of the same region, model and count."""
    offers = []
    for row, count, model in hosts:
        accel = accelerators.get((row.text("region"), model, count))
        if accel is None:
            continue
        host_spot, accel_spot = (
            row.number("spot_price_hour_usd", required=False),
            accel.number("spot_price_hour_usd", required=False),
        )
        spot = round(host_spot + accel_spot, 6) if host_spot is not None and accel_spot is not None else None
        offers.append(
            _offer(
                row,
                simulated=False,
                gpu_name=model,
                gpu_count=count,
                price_hour_usd=round(
                    row.required_number("price_hour_usd") + accel.required_number("price_hour_usd"), 6
                ),
                spot_price_hour_usd=spot,
                source=f"host VM + accelerator ({count}x {model}) composed from prices.csv rows "
                f"{row.line} and {accel.line}; {row.text('source').split(';')[0]}",
            )
        )
    return offers


def _alibaba_offers(rows: Iterable[Row]) -> tuple[list[Offer], dict[Location, Location]]:
    offers: list[Offer] = []
    proxies: dict[Location, Location] = {}
    for row in rows:
        if not row.text("source").upper().startswith("SYNTHETIC"):
            raise row.fail(
                "source", "does not say SYNTHETIC", "every simulated row must say so in its source column"
            )
        offer = _offer(row, simulated=True)
        proxy_region = row.text("aws_proxy_region")
        try:
            proxy = ("aws", validate_location_name(proxy_region, "aws_proxy_region"))
        except InvalidInputError as exc:
            raise row.fail("aws_proxy_region", exc.message, exc.hint or "") from None
        known = proxies.setdefault((offer.provider, offer.region), proxy)
        if known != proxy:
            raise row.fail(
                "aws_proxy_region",
                f"{proxy_region} differs from {known[1]} in an earlier row",
                "one proxy region per Alibaba region",
            )
        offers.append(offer)
    return offers, proxies


def _reject_duplicates(offers: Sequence[Offer]) -> None:
    seen: set[tuple[str, str, str]] = set()
    for o in offers:
        key = (o.provider, o.region, o.instance_type)
        if key in seen:
            raise TelemetryError(
                f"duplicate offer {o.provider}/{o.region} {o.instance_type}",
                hint="keep one row per (provider, region, instance_type)",
            )
        seen.add(key)
