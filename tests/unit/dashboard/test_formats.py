"""The dashboard's small pure helpers: money, feed sentences, cost series on the clock, colours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from swen.dashboard import charts
from swen.dashboard.sentences import sentence
from swen.dashboard.tabs.common import md, money, text_or_dash
from swen.dashboard.tabs.cost import on_the_clock
from swen.dashboard.tabs.incidents import duration
from swen.dashboard.tabs.review import reason_text

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def test_money_has_a_dollar_and_thousands_separators() -> None:
    assert money(27429.4) == "$27,429"
    assert money(-1234.5, cents=True) == "-$1,234.50"
    assert money(139.55, cents=True, signed=True) == "+$139.55"
    assert money(-20, signed=True) == "-$20"
    assert money(None) == "-" and text_or_dash(None) == "-" and text_or_dash("") == "-"


def test_markdown_from_outside_prints_literally() -> None:
    assert md("[click](http://x) *bold* `code`") == r"\[click\]\(http\://x\) \*bold\* \`code\`"


def test_feed_events_read_as_sentences() -> None:
    assert sentence("automation", {"action": "resumed", "by": "alice", "reason": ""}) == (
        "Automation resumed by alice"
    )
    assert sentence("automation", {"action": "paused", "by": "bob", "reason": "freeze"}) == (
        "Automation paused by bob: freeze"
    )
    waiting = {"to": "awaiting_approval", "detail": {"mr_id": 3, "reasons": ["stateful_service: x"]}}
    assert sentence("decision_status", waiting) == "MR 3 waits for a person: stateful_service: x"
    assert sentence("mr", {"action": "opened", "mr_id": 4, "kind": "rollback", "branch": "rollback/s"}) == (
        "Rollback MR 4 opened on rollback/s"
    )
    opened = {"action": "opened", "incident_id": 1, "kind": "outage", "provider": "aws", "source": "engine"}
    assert sentence("incident", opened) == "Incident 1 opened: outage on aws/* (seen by engine)"
    stage = {"action": "stage", "mr_id": 2, "stage": "plan", "status": "success", "duration_s": 1.25}
    assert sentence("pipeline", stage) == "MR 2: plan stage success in 1.2 s"
    assert sentence("something_new", {"action": "went_well"}) == "something new went well"
    for event_type in ("decision", "decision_status", "mr", "pipeline", "incident", "alert", "placement"):
        assert "=" not in sentence(event_type, {})


def test_the_cost_series_start_at_the_first_sample_and_hold_until_the_newest() -> None:
    bucket = T0 - timedelta(minutes=50)  # the window's bucket grid starts before the platform did
    series = {"aws": [(bucket, 100.0)], "gcp": [(bucket, 5.0), (bucket + timedelta(hours=1), 6.0)]}
    first, last = T0, T0 + timedelta(hours=2)

    out = on_the_clock(series, first, last)

    assert out["aws"] == [(T0, 100.0), (last, 100.0)]  # one bucket is a line, not a dot
    assert out["gcp"] == [(T0, 5.0), (bucket + timedelta(hours=1), 6.0), (last, 6.0)]
    assert on_the_clock(series, None, None) == series


def test_series_colours_never_repeat_and_avoid_the_current_black() -> None:
    colours = [charts.series_style(i)["color"] for i in range(len(charts.SERIES_COLOURS))]
    assert len(set(colours)) == len(colours) >= 40
    assert charts.CURRENT_COLOUR not in colours
    beyond = charts.series_style(len(charts.SERIES_COLOURS))
    assert beyond["dash"] != charts.series_style(0)["dash"]  # past the palette, the dash differs


def test_durations_and_reasons_for_people() -> None:
    assert [duration(s) for s in (None, 42.4, 185, 7440, 97200)] == [
        "-",
        "42 s",
        "3 min 5 s",
        "2 h 4 min",
        "1 d 3 h",
    ]
    assert reason_text("confidence_too_low: confidence 0.72 is not above 0.85") == (
        "confidence 0.72 is not above 0.85 (confidence_too_low)"
    )


def test_telemetry_marks_the_current_placement_moves_and_incidents_inside_the_data() -> None:
    from swen.api.schemas import TelemetryPoint

    def point(provider: str, minutes: int) -> TelemetryPoint:
        return TelemetryPoint(
            service="svc", provider=provider, region="r1", ts=T0 + timedelta(minutes=minutes), samples=1,
            instance_type="m5.large", hourly_cost_usd=0.1, monthly_cost_usd=73.0, latency_ms=20.0,
            credits_usd=5.0, gpu_availability=1.0, availability=0.999, error_rate=0.001,
            simulated_price=False,
        )  # fmt: skip

    points = [point(p, m) for p in ("aws", "gcp") for m in (0, 10, 20)]
    marks = charts.Marks(
        current="gcp/r1",
        moves=[(T0 + timedelta(minutes=15), "move to gcp/r1")],
        incidents=[(T0 + timedelta(minutes=12), None, "incident 1: outage")],
    )
    fig = charts.telemetry_series(points, "latency_ms", marks=marks)

    assert [t.name for t in fig.data] == ["gcp/r1 (current)", "aws/r1"]
    assert fig.data[0].line.color == charts.CURRENT_COLOUR and fig.data[0].line.width > fig.data[1].line.width
    [vline, span] = fig.layout.shapes
    assert vline.x0 == vline.x1 == T0 + timedelta(minutes=15)
    assert span.type == "rect" and span.x1 == T0 + timedelta(minutes=20)  # open: shaded to the newest sample
    assert {a.text for a in fig.layout.annotations} == {"move to gcp/r1", "incident 1: outage"}
    assert list(fig.layout.xaxis.range) == [T0, T0 + timedelta(minutes=20)]
