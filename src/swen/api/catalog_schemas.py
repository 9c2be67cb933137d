"""Response schemas of ``GET /catalog/versions`` and ``GET /catalog/versions/{id}`` (``routers/catalog.py``).

Apart from the router so that the dashboard, which reads only the API, parses the answers into them.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class CatalogVersionOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int = Field(description="Version number (1: the packaged prices).")
    created_at: datetime = Field(description="When the version was recorded (UTC).")
    kind: str = Field(description="packaged | refresh")
    source: str = Field(description="The file name or URL the prices came from.")
    sha256: str = Field(description="SHA-256 of the file as given.")
    providers: list[str] = Field(description="Providers whose prices this version replaced.")
    offers: int = Field(description="Price rows in force in this version (every provider).")
    active: bool = Field(description="The prices in force now (the newest version).")


class CatalogVersionsOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active: int | None = Field(description="The active version (None before the first use).")
    versions: list[CatalogVersionOut] = Field(description="Every version, newest first.")


class CatalogVersionDetailOut(CatalogVersionOut):
    rows_per_provider: dict[str, int] = Field(description="Price rows per provider in this version.")
