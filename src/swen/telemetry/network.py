"""Measured network figures: inter-region round-trip time and data egress price.

Rules (documented here, tested in tests/unit/telemetry/test_catalog.py):

* **Locations.** AWS and GCP regions are measured directly. An Alibaba Cloud region has no measurement;
  it uses its AWS proxy region (column ``aws_proxy_region`` of ``alibaba_simulated.csv``: Singapore ->
  aws/ap-southeast-1, Silicon Valley -> aws/us-west-2, Frankfurt -> aws/eu-west-1, Tokyo ->
  aws/ap-northeast-1), as SOURCES.md says. The distance between an Alibaba city and its proxy is not
  modelled (nothing measured it).
* **RTT.** Same measured location -> ``INTRA_REGION_RTT_MS`` (1.5 ms: a round trip inside one region,
  between zones, is typically 1-2 ms). Otherwise ``avg_rtt`` of the measured pair. ``latency.csv`` has
  both directions of most pairs; when both exist, the direction with the smaller spread
  (max_rtt - min_rtt) is used, because a few GCP-initiated rows are visibly noisy (e.g.
  gcp/us-central1 -> aws/ap-southeast-1: min 23 ms, max 189 ms). A pair with no measurement at all
  gets ``FALLBACK_RTT_MS``, the largest RTT in the table (an unknown distance is treated as far).
* **Egress.** Same placement -> 0. A measured pair (AWS/GCP source and destination) -> its price in
  ``egress.csv``. Traffic that leaves for a provider the table does not cover (Alibaba), or that leaves
  Alibaba, is internet egress: the source's internet rate, i.e. the most common price from that source
  (or its AWS proxy) to another provider in the table (aws/us-east-1: 0.09, aws/ap-southeast-1: 0.12).
  No figure at all -> ``FALLBACK_EGRESS_USD_PER_GB`` (0.09, the first AWS internet tier).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from swen.telemetry.csvrows import Row

Location = tuple[str, str]
"""(provider, region) as measured in the data files."""

INTRA_REGION_RTT_MS = 1.5
FALLBACK_EGRESS_USD_PER_GB = 0.09


def _route(row: Row) -> tuple[Location, Location]:
    """(source, destination) of a row of ``latency.csv`` or ``egress.csv``."""
    src = (row.text("src_provider"), row.text("src_region"))
    dst = (row.text("dst_provider"), row.text("dst_region"))
    return src, dst


@dataclass(frozen=True)
class _Rtt:
    avg_ms: float
    spread_ms: float


class LatencyTable:
    """Round-trip times between measured locations (``latency.csv``)."""

    def __init__(self, rows: Iterable[Row]) -> None:
        self._pairs: dict[tuple[Location, Location], _Rtt] = {}
        for row in rows:
            route = _route(row)
            lo = row.required_number("min_rtt_ms")
            avg = row.required_number("avg_rtt_ms")
            hi = row.required_number("max_rtt_ms")
            if not lo <= avg <= hi:
                raise row.fail("avg_rtt_ms", f"{avg} is outside [min {lo}, max {hi}]", "check the row")
            self._pairs[route] = _Rtt(avg_ms=avg, spread_ms=hi - lo)
        self.fallback_ms = max((r.avg_ms for r in self._pairs.values()), default=250.0)

    def rtt_ms(self, a: Location, b: Location) -> float:
        if a == b:
            return INTRA_REGION_RTT_MS
        forward, backward = self._pairs.get((a, b)), self._pairs.get((b, a))
        measured = [r for r in (forward, backward) if r is not None]
        if not measured:
            return self.fallback_ms
        return min(measured, key=lambda r: r.spread_ms).avg_ms


class EgressTable:
    """Data transfer prices in USD per GB (``egress.csv``)."""

    def __init__(self, rows: Iterable[Row]) -> None:
        self._prices: dict[tuple[Location, Location], float] = {}
        for row in rows:
            route = _route(row)
            self._prices[route] = row.required_number("usd_per_gb")
        self._internet = self._internet_rates()

    def _internet_rates(self) -> dict[Location, float]:
        counts: dict[Location, Counter[float]] = {}
        for (src, dst), price in self._prices.items():
            if src[0] != dst[0]:
                counts.setdefault(src, Counter())[price] += 1
        return {src: c.most_common(1)[0][0] for src, c in counts.items()}

    def internet_rate(self, src: Location) -> float:
        return self._internet.get(src, FALLBACK_EGRESS_USD_PER_GB)

    def price(self, src: Location, dst: Location) -> float | None:
        return self._prices.get((src, dst))


def measured_location(provider: str, region: str, proxies: Mapping[Location, Location]) -> Location:
    """Where a (provider, region) is measured: itself, or its AWS proxy for Alibaba regions."""
    return proxies.get((provider, region), (provider, region))
