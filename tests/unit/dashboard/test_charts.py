"""Figure builders are pure functions of API data: check what they draw, including SIMULATED marks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from support.builders import provider_score
from swen.api.schemas import (
    CostAnalysisOut,
    MergeRequestOut,
    PipelineRunOut,
    PipelineStageOut,
    ProviderSpend,
    RunningOut,
    ServiceOut,
    SpendPoint,
    TelemetryPoint,
)
from swen.dashboard import charts
from swen.domain.decision import Confidence, FactorScores
from swen.domain.models import Placement, ServiceShape

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _point(provider: str, region: str, minutes: int, *, latency: float = 20.0) -> TelemetryPoint:
    return TelemetryPoint(
        service="svc", provider=provider, region=region, ts=T0 + timedelta(minutes=minutes), samples=1,
        instance_type="m5.large", hourly_cost_usd=0.1, monthly_cost_usd=73.0, latency_ms=latency,
        credits_usd=5.0, gpu_availability=1.0, availability=0.999, error_rate=0.001,
        simulated_price=provider == "alibaba",
    )  # fmt: skip


def _service(name: str, where: str) -> ServiceOut:
    p = Placement.parse(where)
    return ServiceOut(
        name=name, shape=ServiceShape(vcpus=2, memory_gib=4), stateful=False, latency_slo_ms=50,
        criticality="medium", users_region=p, allowed_providers=[], allowed_regions=[], current=p,
        placement=p, monthly_budget_usd=None, replicas=1,
        running=RunningOut(
            placement=p, source="applied", decision_id=None, instance_type="m5.large",
            instance_monthly_cost_usd=73.0, monthly_cost_usd=73.0, sample_ts=T0, simulated_price=False,
        ),
    )  # fmt: skip


def _mr(mr_id: int, runs: list[PipelineRunOut]) -> MergeRequestOut:
    return MergeRequestOut(
        id=mr_id, decision_id="d", service="svc", branch="ai-rec/svc", host="local", external_id=None,
        web_url=None, state="opened", title="t", kind="migration", review=None, approved_by=None,
        created_at=T0, updated_at=T0, pipelines=runs,
    )  # fmt: skip


def test_factor_contributions_stack_the_four_factors_and_mark_simulated_prices() -> None:
    dearer = FactorScores(cost=1.0, latency=0.5, credits=0.5, availability=0.5)  # cost contribution 0.4
    ranking = [
        provider_score("alibaba/us-west-1", rank=1, factors=0.5),  # cost contribution 0.2, simulated price
        provider_score("aws/us-east-1", rank=2, factors=dearer, is_current=True),
    ]
    fig = charts.factor_contributions(ranking)
    assert [t.name for t in fig.data] == ["cost", "latency", "credits", "availability"]
    assert fig.layout.barmode == "stack"
    labels = list(fig.data[0].y)
    assert labels == ["1. alibaba/us-west-1 [SIMULATED price]", "2. aws/us-east-1 (current)"]
    assert list(fig.data[0].x) == [0.2, 0.4]
    assert "SIMULATED" in fig.layout.title.text


def test_factor_contributions_without_alibaba_has_no_simulated_note() -> None:
    fig = charts.factor_contributions([provider_score("aws/us-east-1", is_current=True)])
    assert "SIMULATED" not in fig.layout.title.text


def test_placement_matrix_marks_the_provider_and_region_of_each_service() -> None:
    services = [_service("a", "aws/us-east-1"), _service("b", "alibaba/us-west-1")]
    fig = charts.placement_matrix(services, ["alibaba", "aws", "gcp"])
    heat = fig.data[0]
    assert [list(row) for row in heat.z] == [[0, 1, 0], [1, 0, 0]]
    assert [list(row) for row in heat.text] == [["", "us-east-1", ""], ["us-west-1", "", ""]]


def test_telemetry_series_draw_a_line_per_placement_and_the_slo() -> None:
    points = [_point("aws", "us-east-1", m) for m in (10, 0, 5)] + [_point("alibaba", "us-west-1", 0)]
    fig = charts.telemetry_series(points, "latency_ms", slo_ms=42.0)
    assert sorted(t.name for t in fig.data) == ["alibaba/us-west-1", "aws/us-east-1"]
    aws = next(t for t in fig.data if t.name == "aws/us-east-1")
    assert list(aws.x) == sorted(aws.x)  # points sorted by time
    assert fig.layout.shapes[0].y0 == 42.0 == fig.layout.shapes[0].y1


def test_cost_series_mark_simulated_prices_but_latency_does_not() -> None:
    points = [_point("alibaba", "us-west-1", 0), _point("aws", "us-east-1", 0)]
    cost = charts.telemetry_series(points, "monthly_cost_usd")
    assert {t.name for t in cost.data} == {"alibaba/us-west-1 (SIMULATED price)", "aws/us-east-1"}
    assert "SIMULATED" in cost.layout.title.text
    latency = charts.telemetry_series(points, "latency_ms")
    assert "SIMULATED" not in latency.layout.title.text and not latency.layout.shapes


def test_pipeline_timeline_has_a_bar_per_stage_coloured_by_status() -> None:
    stages = [
        PipelineStageOut(name="validate", status="success", started_at=T0, duration_s=1.5),
        PipelineStageOut(name="plan", status="success", started_at=T0 + timedelta(seconds=2), duration_s=3.0),
        PipelineStageOut(
            name="apply", status="waiting", started_at=T0 + timedelta(seconds=5), duration_s=None
        ),
    ]
    run = PipelineRunOut(id=3, status="awaiting_approval", started_at=T0, finished_at=None, stages=stages)
    mr = _mr(7, [run])
    fig = charts.pipeline_timeline(mr)
    assert [t.y[0] for t in fig.data] == ["validate", "plan", "apply"]
    assert [t.x[0] for t in fig.data] == [1500.0, 3000.0, 1.0]
    assert fig.data[2].marker.color == charts.STAGE_COLOURS["waiting"]
    assert "awaiting_approval" in fig.layout.title.text


def test_pipeline_timeline_without_a_run_says_so() -> None:
    fig = charts.pipeline_timeline(_mr(1, []))
    assert not fig.data and "no run yet" in fig.layout.title.text


def test_spend_credits_savings_and_confidence_figures() -> None:
    spend = charts.spend_by_provider({"aws": [(T0, 10.0)], "alibaba": [(T0, 5.0)]}, {"alibaba"})
    assert [t.name for t in spend.data] == ["alibaba (SIMULATED prices)", "aws"]
    credits = charts.credits_burndown({"aws": [(T0, 9.0)]})
    assert list(credits.data[0].y) == [9]
    projected = charts.projected_savings([("svc -> alibaba/us-west-1", 120.0, True)])
    assert list(projected.data[0].y) == ["svc -> alibaba/us-west-1 [SIMULATED price]"]
    conf = Confidence(
        value=0.9, margin=0.1, margin_term=0.95, stability=1.0, stability_cycles=10, stability_window=10,
        freshness=0.95,
    )  # fmt: skip
    fig = charts.confidence_parts(conf)
    assert list(fig.data[0].x) == [0.9, 0.95, 1.0, 0.95]
    costs = charts.service_costs([("a", "aws", 10.0, False), ("b", "alibaba", 5.0, True)])
    assert {t.name for t in costs.data} == {"aws", "alibaba (SIMULATED prices)"}


def test_spend_chart_plots_the_cost_analysis_series_and_marks_simulated_providers() -> None:
    from swen.dashboard.tabs.cost import spend_chart_series, spend_simulated

    cost = CostAnalysisOut(
        generated_at=T0, total_monthly_usd=0.0, services=[], by_provider=[], savings_realised_monthly_usd=0.0,
        verified_decisions=0, savings_projected_monthly_usd=0.0, open_recommendations=0, credits_burndown=[],
        spend_by_provider=[
            ProviderSpend(provider="aws", points=[SpendPoint(ts=T0, monthly_usd=300.0),
                                                  SpendPoint(ts=T0 + timedelta(hours=1), monthly_usd=330.0)]),
            ProviderSpend(provider="alibaba", points=[SpendPoint(ts=T0, monthly_usd=90.0)]),
        ],
        credits_step_s=3600,
    )  # fmt: skip
    assert spend_chart_series(cost) == {
        "aws": [(T0, 300.0), (T0 + timedelta(hours=1), 330.0)],
        "alibaba": [(T0, 90.0)],
    }
    assert spend_simulated(cost) == {"alibaba"}


def test_the_spend_caption_says_the_buckets_and_the_series_end_and_the_chart_stops_there() -> None:
    from swen.dashboard.tabs.cost import drawn_until, spend_caption

    end = T0 + timedelta(hours=3)
    cost = CostAnalysisOut(
        generated_at=T0, total_monthly_usd=0.0, services=[], by_provider=[], savings_realised_monthly_usd=0.0,
        verified_decisions=0, savings_projected_monthly_usd=0.0, open_recommendations=0, credits_burndown=[],
        spend_by_provider=[], credits_step_s=6 * 3600, series_end=end,
    )  # fmt: skip
    text = spend_caption(cost)
    assert "6-hour buckets starting 00, 06, 12 and 18 UTC" in text
    assert "up to 2026-11-26 12:00 UTC (the last hour rolled up" in text
    assert "x 730 x its replicas, summed per provider" in text
    assert drawn_until(cost, end + timedelta(minutes=40)) == end  # not drawn on past what it covers
    assert drawn_until(cost, end - timedelta(minutes=5)) == end - timedelta(minutes=5)
    raw = cost.model_copy(update={"credits_step_s": 864, "series_end": T0})
    assert "14-minute buckets" in spend_caption(raw) and "rolled up" not in spend_caption(raw)
    assert "2-hour buckets." in spend_caption(cost.model_copy(update={"credits_step_s": 7200}))
