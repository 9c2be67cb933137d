"""The price catalog version on the dashboard: the active one (sidebar) and a decision's (its detail)."""

from __future__ import annotations

from typing import Any

from swen.api.catalog_schemas import CatalogVersionsOut
from swen.dashboard.tabs.catalog import active_line, decision_line


def _version(n: int, *, active: bool, **fields: Any) -> dict[str, Any]:
    base = {
        "id": n, "created_at": f"2026-12-0{n}T08:00:00Z", "kind": "packaged" if n == 1 else "refresh",
        "source": "packaged" if n == 1 else f"prices-{n}.csv", "sha256": "ab" * 32,
        "providers": ["aws"], "offers": 120, "active": active,
    }  # fmt: skip
    return base | fields


def _versions(*ids: int) -> CatalogVersionsOut:
    """GET /catalog/versions as the API answers it: newest first, the newest active."""
    newest = max(ids, default=None)
    return CatalogVersionsOut.model_validate(
        {"active": newest, "versions": [_version(n, active=n == newest) for n in sorted(ids, reverse=True)]}
    )


def test_the_sidebar_names_the_active_version_and_where_its_prices_came_from() -> None:
    assert active_line(_versions(1)) == (
        "Price catalog: version 1 (the packaged prices, 2026-12-01 08:00:00 UTC)"
    )
    assert active_line(_versions(1, 2)) == (
        "Price catalog: version 2 (refreshed from prices-2.csv, 2026-12-02 08:00:00 UTC)"
    )
    assert active_line(_versions()).startswith("Price catalog: no version recorded yet")


def test_a_decision_names_its_version_and_says_when_the_prices_changed_since() -> None:
    assert decision_line(2, _versions(1, 2)) == (
        "Prices: catalog version 2 (refreshed from prices-2.csv, 2026-12-02 08:00:00 UTC), the active one"
    )
    older = decision_line(1, _versions(1, 2))
    assert older.startswith("Prices: catalog version 1 (the packaged prices, 2026-12-01 08:00:00 UTC); ")
    assert "the active version is 2" in older and "`swen catalog show 1`" in older


def test_without_a_version_or_without_the_list_it_still_says_what_it_knows() -> None:
    assert decision_line(None, _versions(1)).startswith("Prices: no catalog version recorded")
    assert decision_line(3, None) == "Prices: catalog version 3"
    assert decision_line(3, _versions()) == "Prices: catalog version 3"
