"""Request helpers for the tests that call the API."""

from __future__ import annotations


def bearer(key: str) -> dict[str, str]:
    """The ``Authorization`` header of an API key (or the Alertmanager token)."""
    return {"Authorization": f"Bearer {key}"}
