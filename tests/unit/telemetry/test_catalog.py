"""The catalog reads the packaged real data and applies the documented rules."""

from __future__ import annotations

import csv
import importlib.util
import io
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from support import builders
from swen.domain.errors import InvalidInputError, TelemetryError
from swen.domain.models import Placement, ServiceShape
from swen.telemetry.catalog import DATA_FILES, Catalog, load_catalog
from swen.telemetry.network import FALLBACK_EGRESS_USD_PER_GB, INTRA_REGION_RTT_MS

P = Placement.parse


def _csv_rows(name: str) -> list[dict[str, str]]:
    text = resources.files("swen").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    src = resources.files("swen").joinpath("data")
    for name in DATA_FILES:
        (tmp_path / name).write_text(src.joinpath(name).read_text(encoding="utf-8"), encoding="utf-8")
    return tmp_path


def test_aws_price_matches_the_csv_row() -> None:
    row = next(
        r
        for r in _csv_rows("prices.csv")
        if (r["provider"], r["region"], r["instance_type"]) == ("aws", "us-east-1", "m5.large")
    )
    offer = next(o for o in load_catalog().offers("aws", "us-east-1") if o.instance_type == "m5.large")
    assert offer.price_hour_usd == float(row["price_hour_usd"]) == 0.096
    assert offer.spot_price_hour_usd == float(row["spot_price_hour_usd"])
    assert not offer.simulated


def test_every_alibaba_offer_is_flagged_simulated_and_says_synthetic() -> None:
    offers = load_catalog().offers("alibaba")
    assert len(offers) == len(_csv_rows("alibaba_simulated.csv"))
    assert all(o.simulated and o.source.startswith("SYNTHETIC") for o in offers)
    assert not any(o.simulated for o in load_catalog().offers("aws") + load_catalog().offers("gcp"))


def test_regions_per_provider_and_unknown_provider() -> None:
    catalog = load_catalog()
    assert catalog.regions("alibaba") == ["ap-northeast-1", "ap-southeast-1", "eu-central-1", "us-west-1"]
    assert "us-east-1" in catalog.regions("aws")
    with pytest.raises(InvalidInputError, match="valid providers: alibaba, aws, gcp"):
        catalog.regions("azure")


def test_gcp_gpu_offer_is_host_vm_plus_accelerator() -> None:
    rows = _csv_rows("prices.csv")
    host = next(r for r in rows if r["region"] == "us-central1" and r["instance_type"] == "a2-highgpu-1g")
    accel = next(
        r
        for r in rows
        if r["region"] == "us-central1"
        and r["instance_type"] == ""
        and r["gpu_name"] == "A100"
        and r["gpu_count"] == "1"
    )
    offer = load_catalog().best_offer(
        ServiceShape(vcpus=8, memory_gib=64, gpu_model="A100", gpu_count=1), P("gcp/us-central1")
    )
    assert offer is not None and offer.instance_type == "a2-highgpu-1g"
    assert offer.price_hour_usd == pytest.approx(
        float(host["price_hour_usd"]) + float(accel["price_hour_usd"])
    )


def test_gcp_t4_is_not_offered_for_want_of_an_n1_host() -> None:
    shape = ServiceShape(vcpus=4, memory_gib=15, gpu_model="T4", gpu_count=1)
    assert load_catalog().best_offer(shape, P("gcp/us-central1")) is None


def test_best_offer_is_cheapest_that_fits() -> None:
    catalog = load_catalog()
    offer = catalog.best_offer(ServiceShape(vcpus=8, memory_gib=32), P("aws/us-east-1"))
    assert offer is not None and offer.instance_type == "m5.2xlarge"  # c5.2xlarge has 16 GiB only
    gpu = catalog.best_offer(
        ServiceShape(vcpus=4, memory_gib=16, gpu_model="A10G", gpu_count=1), P("aws/us-east-1")
    )
    assert gpu is not None and gpu.instance_type == "g5.xlarge"
    assert (
        catalog.best_offer(
            ServiceShape(vcpus=4, memory_gib=16, gpu_model="A10G", gpu_count=1), P("alibaba/us-west-1")
        )
        is None
    )
    cpu_only = catalog.best_offer(ServiceShape(vcpus=4, memory_gib=16), P("aws/us-east-1"))
    assert cpu_only is not None and cpu_only.gpu_name is None


def test_rtt_comes_from_the_measurements() -> None:
    catalog = load_catalog()
    # aws/us-east-1 -> aws/us-west-2: avg 68.272 (spread 0.066) vs reverse avg 68.481 (spread 0.035)
    assert catalog.rtt_ms(P("aws/us-east-1"), P("aws/us-west-2")) == 68.481
    assert catalog.rtt_ms(P("aws/us-west-2"), P("aws/us-east-1")) == 68.481  # symmetric by construction
    assert catalog.rtt_ms(P("aws/us-east-1"), P("aws/us-east-1")) == INTRA_REGION_RTT_MS
    # noisy GCP-initiated row (min 23, max 189) loses against the stable reverse measurement
    assert catalog.rtt_ms(P("gcp/us-central1"), P("aws/ap-southeast-1")) == 193.928


def test_alibaba_uses_its_aws_proxy_for_latency() -> None:
    catalog = load_catalog()
    assert catalog.rtt_ms(P("aws/us-east-1"), P("alibaba/us-west-1")) == catalog.rtt_ms(
        P("aws/us-east-1"), P("aws/us-west-2")
    )
    assert catalog.rtt_ms(P("aws/ap-southeast-1"), P("alibaba/ap-southeast-1")) == INTRA_REGION_RTT_MS


def test_egress_from_the_data_and_fallbacks() -> None:
    catalog = load_catalog()
    assert catalog.egress_usd_per_gb(P("aws/us-east-1"), P("aws/us-west-2")) == 0.02
    assert catalog.egress_usd_per_gb(P("gcp/us-central1"), P("aws/us-east-1")) == 0.12
    assert catalog.egress_usd_per_gb(P("aws/us-east-1"), P("aws/us-east-1")) == 0.0
    # leaving AWS for Alibaba is internet egress at the source's rate, not AWS inter-region
    assert catalog.egress_usd_per_gb(P("aws/us-east-1"), P("alibaba/us-west-1")) == 0.09
    assert catalog.egress_usd_per_gb(P("aws/ap-southeast-1"), P("alibaba/ap-southeast-1")) == 0.12
    assert catalog.egress_usd_per_gb(P("alibaba/ap-southeast-1"), P("aws/us-east-1")) == 0.12
    assert FALLBACK_EGRESS_USD_PER_GB == 0.09


def test_candidates_give_offer_or_reason_for_every_placement() -> None:
    catalog = load_catalog()
    service = builders.service(
        "svc",
        shape=ServiceShape(vcpus=4, memory_gib=16, gpu_model="A10G", gpu_count=1),
        allowed_providers=("aws", "alibaba"),
    )
    cands = {p.key: (o, r) for p, o, r in catalog.candidates(service)}
    assert set(cands) == {p.key for p in catalog.placements()}
    assert cands["aws/us-east-1"][1] is None and cands["aws/us-east-1"][0] is not None
    assert "not in allowed_providers" in (cands["gcp/us-central1"][1] or "")
    assert cands["alibaba/us-west-1"] == (
        None,
        "GPU A10G not offered in alibaba/us-west-1 (offered: A10, T4, V100)",
    )
    assert "GPU A10G not offered" in (cands["aws/ap-southeast-1"][1] or "")


def test_candidates_respect_allowed_regions() -> None:
    service = builders.service("svc", allowed_regions=("us-east-1",))
    reasons = {p.key: r for p, _, r in load_catalog().candidates(service)}
    assert reasons["aws/us-east-1"] is None
    assert reasons["aws/us-west-2"] == "region us-west-2 not in allowed_regions (us-east-1)"


def test_negative_price_row_is_rejected_naming_file_row_and_field(data_copy: Path) -> None:
    path = data_copy / "prices.csv"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace(",0.384,", ",-0.384,")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TelemetryError, match=r"prices.csv line 3, column price_hour_usd: -0.384 is negative"):
        Catalog.from_dir(data_copy)


def test_unknown_provider_and_unlabelled_synthetic_rows_are_rejected(data_copy: Path) -> None:
    path = data_copy / "prices.csv"
    original = path.read_text()
    path.write_text(original.replace("aws,us-east-1,c5.2xlarge", "azure,us-east-1,c5.2xlarge"))
    with pytest.raises(
        TelemetryError, match=r"prices.csv line 10, column provider: unknown provider 'azure'"
    ):
        Catalog.from_dir(data_copy)
    path.write_text(original)
    ali = data_copy / "alibaba_simulated.csv"
    ali.write_text(ali.read_text().replace("SYNTHETIC (the seed", "Measured (the seed", 1))
    with pytest.raises(
        TelemetryError, match=r"alibaba_simulated.csv line 2, column source: does not say SYNTHETIC"
    ):
        Catalog.from_dir(data_copy)


def test_nan_price_is_rejected(data_copy: Path) -> None:
    path = data_copy / "alibaba_simulated.csv"
    path.write_text(path.read_text().replace(",0.1181,", ",nan,"))
    with pytest.raises(
        TelemetryError, match=r"alibaba_simulated.csv line 2, column price_hour_usd: 'nan' is not finite"
    ):
        Catalog.from_dir(data_copy)


def test_packaged_data_is_the_shared_data_with_alibaba_re_based_when_available() -> None:
    """The real data files are byte-for-byte the public data in shared/data; the synthetic Alibaba
    offers are exactly what ``scripts/rebase_alibaba.py`` makes of them (method in SOURCES.md)."""
    shared = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    if not shared.is_dir():
        pytest.skip("no shared data folder beside the repository")
    data = resources.files("swen").joinpath("data")
    for name in ("prices.csv", "latency.csv", "egress.csv", "alibaba_prices.csv"):
        assert data.joinpath(name).read_text(encoding="utf-8") == (shared / name).read_text(
            encoding="utf-8"
        ), name
    rebase = _rebase_script()
    texts = [(shared / n).read_text(encoding="utf-8") for n in ("prices.csv", "alibaba_prices.csv")]
    made = rebase.rebase(*texts, (shared / "alibaba_simulated.csv").read_text(encoding="utf-8"))
    assert made == data.joinpath("alibaba_simulated.csv").read_text(encoding="utf-8")


def _rebase_script() -> Any:
    path = Path(__file__).resolve().parents[3] / "scripts" / "rebase_alibaba.py"
    spec = importlib.util.spec_from_file_location("rebase_alibaba", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_alibaba_factors_come_from_same_generation_same_city_real_prices() -> None:
    """g5/c5/r5 against AWS m5/c5/r5 in the same city: Alibaba's 2019 list prices were 0.875-0.984 of
    AWS's; every synthetic offer is its AWS equivalent in the proxy region x its family's factor."""
    rebase = _rebase_script()
    data = resources.files("swen").joinpath("data")
    texts = [data.joinpath(n).read_text(encoding="utf-8") for n in ("prices.csv", "alibaba_prices.csv")]
    assert rebase.factors(*texts) == {"compute": 0.875, "general": 0.984, "memory": 0.968, "overall": 0.952}
    pairs = rebase.real_ratios(*texts)
    assert len(pairs) == 12
    assert ("general", "ap-southeast-1", "ecs.g5.large", 0.12, 0.12) in pairs
    aws = {(o.region, o.instance_type): o for o in load_catalog().offers("aws")}
    for row in _csv_rows("alibaba_simulated.csv"):
        base = aws[(row["aws_proxy_region"], row["aws_equivalent"])]
        factor = float(row["price_factor"])
        assert float(row["price_hour_usd"]) == pytest.approx(base.price_hour_usd * factor, abs=5e-5)
        assert f"x {row['price_factor']} (" in row["source"]
