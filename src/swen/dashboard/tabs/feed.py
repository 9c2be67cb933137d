"""Live Feed: the event stream from the API's WebSocket, newest first, with filters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from swen.dashboard import data
from swen.dashboard.data import ApiTarget
from swen.dashboard.live import BACKLOG, FeedEvent, LiveFeed
from swen.dashboard.tabs.common import when
from swen.domain.events import EventType

FEED_KEY = "live-feed"
SHOWN = 300
NOISY = (EventType.TELEMETRY_CYCLE.value, EventType.ENGINE_CYCLE.value)
ALL = "All"


def _start_after(target: ApiTarget) -> int:
    """A little before the newest event the dashboard knows of (from recent decisions' histories)."""
    items, _ = data.decisions(target, None, None, 20)
    newest = max((e.event_id for d in items for e in d.history), default=0)
    return max(0, newest - BACKLOG)


def _feed(target: ApiTarget) -> LiveFeed:
    feed: LiveFeed | None = st.session_state.get(FEED_KEY)
    if feed is None or feed.ws_url != data.client(target).ws_url or feed.key != target.key:
        feed = LiveFeed(data.client(target).ws_url, target.key, start_after=_start_after(target))
        st.session_state[FEED_KEY] = feed
    return feed


def filter_events(
    events: Sequence[FeedEvent], types: Sequence[str], service: str | None, text: str
) -> list[FeedEvent]:
    needle = text.strip().lower()
    return [
        e
        for e in events
        if (not types or e.type in types)
        and (service is None or e.service == service)
        and (not needle or needle in f"{e.type} {e.service} {e.decision_id} {e.summary} {e.payload}".lower())
    ]


def event_rows(events: Sequence[FeedEvent]) -> list[dict[str, Any]]:
    return [
        {
            "id": e.id,
            "time": when(e.ts),
            "type": e.type,
            "service": e.service or "",
            "what happened": e.summary,
            "decision": e.decision_id or "",
        }
        for e in events
    ]


def render(target: ApiTarget) -> None:
    feed = _feed(target)
    feed.poll()
    cols = st.columns([3, 2, 2])
    kinds = [t.value for t in EventType]
    types = cols[0].multiselect(
        "Event types", kinds, default=[k for k in kinds if k not in NOISY], key="feed-types",
        help="Telemetry and engine cycles are hidden by default (one per cycle).",
    )  # fmt: skip
    services = sorted({e.service for e in feed.events if e.service})
    service = cols[1].selectbox("Service", [ALL, *services], key="feed-service")
    text = cols[2].text_input("Search", key="feed-text", placeholder="e.g. awaiting_approval")
    events = filter_events(feed.newest_first(), types, None if service == ALL else service, text)
    st.caption(
        f"{len(feed.events)} event(s) received over the WebSocket (last id {feed.cursor}); "
        f"{len(events)} match the filters, newest first."
    )
    if not events:
        st.info("No events match yet: events appear here as the platform works (decisions, MRs, pipelines).")
        return
    st.dataframe(
        event_rows(events[:SHOWN]), hide_index=True, width="stretch", height=560,
        column_config={"what happened": st.column_config.TextColumn(width="large")},
    )  # fmt: skip
