"""API tokens as configured: who may read, who may write, and how a token is kept (never in clear).

A token is 32 random bytes shown once (``gslb token create``); only its SHA-256 is configured. A
slow password hash would buy nothing here: the secret is random, not chosen by a person, so
guessing it from its hash is as hard as guessing it. The settings (gslb/config.py) hold these
values; the API checks presented tokens against them (gslb/api/auth.py).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from gslb.errors import ConfigError

TOKEN_PREFIX = "gslb_"  # recognisable in a leaked-secret scan, and in a config review
HASH_PREFIX = "sha256:"


class Role(StrEnum):
    READ = "read"  # every GET
    ADMIN = "admin"  # and every write

    def may_write(self) -> bool:
        return self is Role.ADMIN


@dataclass(frozen=True, slots=True)
class ApiToken:
    """One configured token: a name for the audit log, a role, and the hash of the secret."""

    name: str
    role: Role
    sha256: str  # hex digest of the token

    @classmethod
    def parse(cls, text: str, setting: str = "api_tokens") -> ApiToken:
        """``NAME:ROLE:sha256:HEX``, the form a setting (and an environment variable) holds."""
        name, sep, rest = text.strip().partition(":")
        role, sep2, digest = rest.partition(":")
        if not (sep and sep2):
            raise ConfigError(f"{setting}: {text!r} is not NAME:ROLE:sha256:HEX (see gslb token create)")
        return cls.of(name, role, digest, setting)

    @classmethod
    def of(cls, name: str, role: str, digest: str, setting: str = "api_tokens") -> ApiToken:
        if not name or not all(c.isalnum() or c in "-_.@" for c in name):
            raise ConfigError(f"{setting}: token name {name!r} must be letters, digits, '-', '_', '.' or '@'")
        try:
            parsed_role = Role(role)
        except ValueError:
            raise ConfigError(f"{setting}: token {name!r}: role {role!r} is not read or admin") from None
        hexdigest = digest.removeprefix(HASH_PREFIX).lower()
        if len(hexdigest) != 64 or any(c not in "0123456789abcdef" for c in hexdigest):
            raise ConfigError(
                f"{setting}: token {name!r}: expected sha256:<64 hex digits> (the hash, never the token)"
            )
        return cls(name, parsed_role, hexdigest)

    def __str__(self) -> str:
        return f"{self.name}:{self.role.value}:{HASH_PREFIX}{self.sha256}"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
