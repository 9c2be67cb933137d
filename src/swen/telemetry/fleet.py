"""The fleet file: which services SWEN places (credits are in the ledger file, ``credit_file.py``).

``load_fleet(path)`` returns the services; ``load_fleet_file(path)`` the ``Fleet``. Every
problem is one ConfigError line naming the file, the field and the fix, e.g.
``fleet.yaml: services[2].name: 'Bad Name' breaks ^[a-z][a-z0-9-]{0,62}$ (use lowercase ...)``.
``path=None`` loads the packaged default fleet (``swen/data/fleet.yaml``).
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from swen.domain.errors import ConfigError, InvalidInputError
from swen.domain.models import Placement, Service
from swen.domain.providers import PROVIDERS
from swen.telemetry.catalog import Catalog, load_catalog
from swen.telemetry.yamlfile import check_finite, check_name, read_yaml, validation_error

DEFAULT_FLEET_LABEL = "fleet.yaml (packaged default)"
_PLACEMENT_FIELDS = {"current": "fleet_placement", "users_region": "users_region"}
"""Placement keys of a fleet file's service -> the ``Service`` attribute that holds them."""


@dataclass(frozen=True)
class Fleet:
    services: list[Service]


def default_fleet_path() -> Path:
    return Path(str(resources.files("swen").joinpath("data", "fleet.yaml")))


def load_fleet(path: Path | None = None, catalog: Catalog | None = None) -> list[Service]:
    return load_fleet_file(path, catalog).services


def load_fleet_file(path: Path | None = None, catalog: Catalog | None = None) -> Fleet:
    label = str(path) if path is not None else DEFAULT_FLEET_LABEL
    data = read_yaml(path or default_fleet_path(), label)
    return parse_fleet(data, label, catalog or load_catalog())


def parse_fleet(data: Any, label: str, catalog: Catalog) -> Fleet:
    if not isinstance(data, dict):
        raise ConfigError(
            "the file must be a mapping with a 'services:' list",
            hint="start the file with 'services:' (see the packaged fleet.yaml)",
            source=label,
        )
    if "credits" in data:
        raise ConfigError(
            "credits: credit grants now live in the credit ledger file, not the fleet file",
            hint="move them to a credits.yaml (grants: - {provider: aws, amount_usd: 200, "
            "expires_after_days: 30}) and set SWEN_CREDITS_FILE (README, 'Cloud credits')",
            source=label,
        )
    unknown = sorted(set(data) - {"services"})
    if unknown:
        raise ConfigError(
            f"{unknown[0]}: unknown top-level key", hint="the only key is services", source=label
        )
    check_finite(label, "", data)
    raw = data.get("services")
    if not isinstance(raw, list) or not raw:
        raise ConfigError("services: missing or empty", hint="list at least one service", source=label)
    services = [_service(label, i, item, catalog) for i, item in enumerate(raw)]
    _reject_duplicates(label, services)
    return Fleet(services=services)


def _service(label: str, index: int, item: Any, catalog: Catalog) -> Service:
    prefix = f"services[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(
            f"{prefix}: must be a mapping", hint="give name, current, users_region, shape, ...", source=label
        )
    if "name" not in item:
        raise ConfigError(f"{prefix}.name: missing", hint="add a name such as service-4", source=label)
    check_name(label, f"{prefix}.name", item["name"])
    spec = dict(item)
    for key in _PLACEMENT_FIELDS:
        if key in spec:
            spec[key] = _placement(label, f"{prefix}.{key}", spec[key])
    for key in ("allowed_providers", "allowed_regions"):
        for j, name in enumerate(spec.get(key) or []):
            check_name(label, f"{prefix}.{key}[{j}]", name, location=True)
    try:
        service = Service.model_validate(spec)
    except ValidationError as exc:
        raise validation_error(label, prefix, exc) from None
    _check_against_catalog(label, prefix, service, catalog)
    return service


def _placement(label: str, field: str, value: Any) -> Any:
    if isinstance(value, dict):
        value = f"{value.get('provider')}/{value.get('region')}"
    if not isinstance(value, str) or value.count("/") != 1:
        raise ConfigError(
            f"{field}: {value!r} is not 'provider/region'", hint="write e.g. aws/us-east-1", source=label
        )
    provider, region = value.split("/")
    check_name(label, f"{field} provider", provider, location=True)
    check_name(label, f"{field} region", region, location=True)
    return {"provider": provider, "region": region}


def _check_known(
    label: str, field: str, values: Iterable[str], known: Container[str], *, what: str, hint: str
) -> None:
    """ConfigError at the first of ``values`` (the list ``field``) that is not in ``known``."""
    for j, value in enumerate(values):
        if value not in known:
            raise ConfigError(f"{field}[{j}]: unknown {what} {value!r}", hint=hint, source=label)


def _check_against_catalog(label: str, prefix: str, service: Service, catalog: Catalog) -> None:
    for key, attribute in _PLACEMENT_FIELDS.items():
        placement: Placement = getattr(service, attribute)
        try:
            catalog.check_placement(placement)
        except InvalidInputError as exc:
            raise ConfigError(f"{prefix}.{key}: {exc.message}", hint=exc.hint, source=label) from None
    _check_known(
        label,
        f"{prefix}.allowed_providers",
        service.allowed_providers,
        PROVIDERS,
        what="provider",
        hint=f"use one of {', '.join(PROVIDERS.names())}",
    )
    known_regions = {p.region for p in catalog.placements()}
    _check_known(
        label,
        f"{prefix}.allowed_regions",
        service.allowed_regions,
        known_regions,
        what="region",
        hint=f"known regions: {', '.join(sorted(known_regions))}",
    )
    if catalog.best_offer(service.shape, service.fleet_placement) is None:
        raise ConfigError(
            f"{prefix}.shape: {catalog.no_offer_reason(service.shape, service.fleet_placement)}",
            hint="change the shape or the current placement",
            source=label,
        )


def _reject_duplicates(label: str, services: list[Service]) -> None:
    first: dict[str, int] = {}
    for i, service in enumerate(services):
        if service.name in first:
            raise ConfigError(
                f"services[{i}].name: {service.name!r} is already used by services[{first[service.name]}]",
                hint="service names must be unique; rename one",
                source=label,
            )
        first[service.name] = i
