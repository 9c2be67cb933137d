"""GET /catalog/versions and /catalog/versions/{version_id} (viewer): the price catalog's history.

Version 1 is the packaged prices, recorded when the engine or the simulator first uses them; every
`swen catalog refresh --from FILE` adds the next version, which becomes the active one. Each decision
names the version it was made with (``catalog_version``), and every version's prices stay readable
(`swen catalog show N --csv`). Read-only: a refresh is an operator's command, not an API call.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Path

from swen.api.catalog_schemas import CatalogVersionDetailOut, CatalogVersionOut, CatalogVersionsOut
from swen.api.deps import StoreDep, ViewerDep, declares_role
from swen.domain.keys import Role
from swen.store.catalogs import CatalogVersion, CatalogVersions

router = APIRouter(tags=["catalog"])

VersionPath = Annotated[int, Path(ge=1, le=2_147_483_647, description="Catalog version.")]


def _out(version: CatalogVersion, active: int | None) -> CatalogVersionOut:
    return CatalogVersionOut(**version.as_dict(), active=version.id == active)


@router.get(
    "/catalog/versions",
    response_model=CatalogVersionsOut,
    summary="Every price catalog version, newest first, and the active one (role: viewer)",
    openapi_extra=declares_role(Role.VIEWER),
)
def list_versions(store: StoreDep, _key: ViewerDep) -> CatalogVersionsOut:
    versions = CatalogVersions(store).list()
    active = versions[0].id if versions else None
    return CatalogVersionsOut(active=active, versions=[_out(v, active) for v in versions])


@router.get(
    "/catalog/versions/{version_id}",
    response_model=CatalogVersionDetailOut,
    summary="One price catalog version (role: viewer)",
    openapi_extra=declares_role(Role.VIEWER),
)
def get_version(store: StoreDep, _key: ViewerDep, version_id: VersionPath) -> CatalogVersionDetailOut:
    repo = CatalogVersions(store)
    version = repo.get(version_id)
    counts = Counter(row.get("provider", "") for row in csv.DictReader(io.StringIO(repo.prices(version_id))))
    return CatalogVersionDetailOut(
        **version.as_dict(),
        active=version.id == repo.active_id(),
        rows_per_provider=dict(sorted(counts.items())),
    )
