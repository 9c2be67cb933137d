"""API keys and roles.

Roles are ordered ``viewer < operator < admin``; a route declares the lowest role it needs and any
higher role passes.

Keys are 32 random bytes from ``secrets`` (URL-safe base64, prefixed ``swen_``). Because a key has
256 bits of entropy, a plain SHA-256 of it is a safe thing to store: nobody can brute-force a preimage,
so a slow password hash (bcrypt/argon2) would only add latency to every request. The store keeps the
hash and a short prefix (``swen_`` + 7 characters) so an operator can recognise a key in
``swen keys list`` without the secret ever being stored or logged. Secrets supplied by webhooks are
compared with ``hmac.compare_digest`` (constant time).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from swen.domain.errors import InvalidInputError

KEY_PREFIX = "swen_"
PREFIX_LENGTH = 12
"""Characters of a key shown for identification (``swen_`` + 7)."""


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        """True when a key with this role may call a route that needs ``needed``."""
        return self.rank >= needed.rank

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls(value)
        except ValueError:
            raise InvalidInputError(
                f"unknown role {value!r}", hint=f"use one of: {', '.join(r.value for r in cls)}"
            ) from None


_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id and name (None for open routes and webhook secrets) and its role."""

    key_id: int | None
    name: str
    role: Role


def generate_key() -> str:
    """A new random API key (shown to the user once, never stored)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """SHA-256 hex of a key (safe for 256-bit random keys; see the module docstring)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_prefix(key: str) -> str:
    return key[:PREFIX_LENGTH]


def secrets_equal(presented: str | None, expected: str | None) -> bool:
    """Constant-time comparison of a presented secret with the configured one (False if either is unset)."""
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))
