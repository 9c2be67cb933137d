"""The credit ledger file (``credits.yaml``): the cloud credits SWEN burns by where services run.

One list of grants; each grant belongs to a provider (and optionally an account, a label shown in
``swen credits``), has an amount, a start, an expiry, optional refills and an optional opening
balance read off the provider's console::

    grants:
      - name: aws-activate                # optional; default <provider>-<n>
        provider: aws
        account: "123456789012"           # optional label
        amount_usd: 5000
        start: 2026-12-01                 # optional; default: when the platform's ledger starts
        expires: 2027-06-01               # or expires_after_days: 180 (counted from the start)
        refill: {amount_usd: 500, every_days: 30}   # optional: added every 30 days until expiry
        balance: {usd: 4200, as_of: 2026-12-04}     # optional: the balance on that date

Dates are ISO dates or times (a date is midnight UTC). A grant without ``start`` starts with the
ledger: on the live platform the first burn interval (kept in the store), in a backtest the replay's
start; so the packaged default (``swen/data/credits.yaml``, today's small grants) behaves the same in
both. ``load_credit_ledger(path)`` validates the whole file before anything uses it; every problem is
one ConfigError naming the file, the grant's line and field, and the fix, e.g.
``credits.yaml: grants[1] (line 9).expires: 2026-11-01 is before the start 2026-12-01 (...)``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from swen.domain.errors import ConfigError
from swen.domain.names import LOCATION_NAME_PATTERN
from swen.domain.providers import PROVIDERS
from swen.telemetry.yamlfile import check_finite, read_yaml, validation_error

DEFAULT_LEDGER_LABEL = "credits.yaml (packaged default)"
MAX_USD = 1e9
_DAY = timedelta(days=1)


def _utc_time(value: Any) -> Any:
    """A date is midnight UTC; a time without a zone is refused (which zone was meant?)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{value.isoformat()} has no time zone; add Z (UTC) or +hh:mm")
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO date or time (e.g. 2026-12-01)") from None
        return _utc_time(parsed if ("T" in value or " " in value) else parsed.date())
    raise ValueError(f"{value!r} is not a date (e.g. 2026-12-01)")


UtcTime = Annotated[datetime, BeforeValidator(_utc_time)]


class Refill(BaseModel):
    """``amount_usd`` added every ``every_days`` from the grant's start, until it expires."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    amount_usd: float = Field(gt=0, le=MAX_USD)
    every_days: float = Field(gt=0, le=3660)


class OpeningBalance(BaseModel):
    """The grant's balance on ``as_of`` (read off the provider's console): it replaces what the
    ledger would have computed for that moment."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    usd: float = Field(ge=0, le=MAX_USD)
    as_of: UtcTime


class Grant(BaseModel):
    """One credit grant of a provider (and optionally an account)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(default="", max_length=63)
    provider: str
    account: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    amount_usd: float = Field(ge=0, le=MAX_USD)
    start: UtcTime | None = None
    """None: when the ledger starts (the live platform's first burn interval, a replay's start)."""
    expires: UtcTime | None = None
    expires_after_days: float | None = Field(default=None, gt=0, le=36600)
    refill: Refill | None = None
    balance: OpeningBalance | None = None

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in PROVIDERS:
            raise ValueError(f"unknown provider {value!r}: use one of {PROVIDERS.choices()}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Grant:
        if self.expires is not None and self.expires_after_days is not None:
            raise ValueError("give expires or expires_after_days, not both")
        if self.start is not None and self.expires is not None and self.expires <= self.start:
            raise ValueError(
                f"expires {self.expires.date()} is not after the start {self.start.date()}: "
                "fix one of the two dates"
            )
        if self.balance is not None:
            as_of = self.balance.as_of
            if self.start is not None and as_of < self.start:
                raise ValueError(f"balance.as_of {as_of.date()} is before the start {self.start.date()}")
            if self.expires is not None and as_of >= self.expires:
                raise ValueError(
                    f"balance.as_of {as_of.date()} is not before the expiry {self.expires.date()}"
                )
        return self

    def expires_at(self, start: datetime) -> datetime | None:
        """The expiry, given when the grant started (``start`` when it has none of its own)."""
        if self.expires is not None:
            return self.expires
        if self.expires_after_days is not None:
            return start + self.expires_after_days * _DAY
        return None


@dataclass(frozen=True)
class CreditLedgerFile:
    """A validated ledger file."""

    grants: tuple[Grant, ...]
    source: str


def default_ledger_path() -> Path:
    return Path(str(resources.files("swen").joinpath("data", "credits.yaml")))


def load_credit_ledger(path: Path | None = None) -> CreditLedgerFile:
    """Read and validate a ledger file (None: the packaged default)."""
    label = str(path) if path is not None else DEFAULT_LEDGER_LABEL
    file = path or default_ledger_path()
    data = read_yaml(file, label)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError:  # read_yaml read it a moment ago; without the text errors name no line
        text = ""
    return parse_credit_ledger(data, label, text=text)


def parse_credit_ledger(data: Any, label: str, *, text: str = "") -> CreditLedgerFile:
    if data is None:
        data = {"grants": []}
    if not isinstance(data, dict):
        raise ConfigError(
            "the file must be a mapping with a 'grants:' list",
            hint="start the file with 'grants:' (see the packaged credits.yaml)",
            source=label,
        )
    unknown = sorted(str(k) for k in set(data) - {"grants"})
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown top-level key", hint="the only key is grants", source=label)
    check_finite(label, "", data)
    raw = data.get("grants") or []
    if not isinstance(raw, list):
        raise ConfigError(
            "grants: must be a list", hint="write one '- provider: ...' entry per grant", source=label
        )
    lines = _item_lines(text)
    grants: list[Grant] = []
    per_provider: dict[str, int] = {}
    for i, item in enumerate(raw):
        prefix = f"grants[{i}]" + (f" (line {lines[i]})" if i < len(lines) else "")
        if not isinstance(item, dict):
            raise ConfigError(
                f"{prefix}: must be a mapping", hint="give provider, amount_usd, ...", source=label
            )
        try:
            grant = Grant.model_validate(item)
        except ValidationError as exc:
            raise validation_error(label, prefix, exc) from None
        per_provider[grant.provider] = per_provider.get(grant.provider, 0) + 1
        name = _name(label, prefix, grant, per_provider[grant.provider])
        grants.append(grant.model_copy(update={"name": name}))
    _reject_duplicates(label, grants, lines)
    return CreditLedgerFile(grants=tuple(grants), source=label)


def _name(label: str, prefix: str, grant: Grant, nth: int) -> str:
    """The grant's name, by default ``<provider>-<n>`` (its n-th grant in the file)."""
    name = grant.name or f"{grant.provider}-{nth}"
    if not re.fullmatch(LOCATION_NAME_PATTERN, name):
        raise ConfigError(
            f"{prefix}.name: {name!r} breaks {LOCATION_NAME_PATTERN}",
            hint="use lowercase letters, digits and '-', starting with a letter (max 63)",
            source=label,
        )
    return name


def _reject_duplicates(label: str, grants: Sequence[Grant], lines: Sequence[int]) -> None:
    first: dict[str, int] = {}
    for i, grant in enumerate(grants):
        if grant.name in first:
            where = f" (line {lines[i]})" if i < len(lines) else ""
            raise ConfigError(
                f"grants[{i}]{where}.name: {grant.name!r} is already used by grants[{first[grant.name]}]",
                hint="grant names must be unique; rename one",
                source=label,
            )
        first[grant.name] = i


def _item_lines(text: str) -> list[int]:
    """The 1-based line of each ``grants`` entry (empty when the text cannot be composed)."""
    if not text:
        return []
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if getattr(key, "value", None) == "grants" and isinstance(value, yaml.SequenceNode):
            return [node.start_mark.line + 1 for node in value.value]
    return []


_SHORT_FORM = {
    "amount_usd": "balance_usd",
    "refill.amount_usd": "refill_usd",
    "refill.every_days": "refill_every_days",
}
"""Grant fields -> their names in the short per-provider form."""


def grants_from_balances(credits: Mapping[str, Any]) -> tuple[Grant, ...]:
    """Grants from the short per-provider form a backtest file's ``credits:`` uses
    (``aws: {balance_usd: 20000, expires_after_days: 15, refill_usd: 0, refill_every_days: 7}``),
    each starting with the ledger. Raises ValueError naming ``provider.field`` on a bad value."""
    out = []
    for provider, spec in credits.items():
        if not isinstance(spec, Mapping):
            raise ValueError(f"{provider}: must be a mapping such as {{balance_usd: 1000}}")
        extra = sorted(set(spec) - {"balance_usd", "expires_after_days", "refill_usd", "refill_every_days"})
        if extra:
            raise ValueError(
                f"{provider}.{extra[0]}: unknown field (fields: balance_usd, expires_after_days, "
                "refill_usd, refill_every_days)"
            )
        refill_usd, every = spec.get("refill_usd") or 0, spec.get("refill_every_days")
        raw = {
            "name": f"{provider}-1",
            "provider": provider,
            "amount_usd": spec.get("balance_usd"),
            "expires_after_days": spec.get("expires_after_days"),
            "refill": {"amount_usd": refill_usd, "every_days": every} if refill_usd and every else None,
        }
        try:
            out.append(Grant.model_validate(raw))
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"])
            where = _SHORT_FORM.get(where, where)
            detail = str(err["msg"]).removeprefix("Value error, ")
            raise ValueError(f"{provider}.{where}: {detail}" if where else f"{provider}: {detail}") from None
    return tuple(out)
