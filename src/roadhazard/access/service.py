"""API keys with roles, held only as SHA-256 digests and compared in constant time.

`ROADHAZARD_API_KEYS` lists `role:key` pairs separated by commas, e.g.
`reporter:k3y-for-the-app,admin:k3y-for-staff`. A key may also be given already hashed, as
`role:sha256=<64 hex digits>`, so the plain key never has to sit in the environment.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from dataclasses import dataclass

from roadhazard.settings import Settings

_HASHED = re.compile(r"^sha256=([0-9a-f]{64})$")
_MIN_KEY_LENGTH = 16


class Role(enum.IntEnum):
    """Ordered: each role may do everything the roles below it may."""

    READER = 1
    REPORTER = 2
    ADMIN = 3


@dataclass(frozen=True)
class Principal:
    """Who made a request: a role, and a short key fingerprint that is safe to log."""

    role: Role
    key_id: str | None


ANONYMOUS_ADMIN = Principal(Role.ADMIN, None)
ANONYMOUS_READER = Principal(Role.READER, None)


class ApiKeyError(ValueError):
    """ROADHAZARD_API_KEYS is malformed; the message never contains a key."""


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class AccessPolicy:
    """Answers "which role does this key have" without keeping any key in memory."""

    key_roles: tuple[tuple[str, Role], ...]
    public_reads: bool

    @property
    def open_access(self) -> bool:
        """No keys configured: the embedded development default, where everything is allowed."""
        return not self.key_roles

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessPolicy:
        """ROADHAZARD_API_KEYS and ROADHAZARD_PUBLIC_READS; an ApiKeyError never holds a key."""
        keys = settings.api_keys.get_secret_value() if settings.api_keys else None
        return cls.from_config(keys, public_reads=settings.public_reads)

    @classmethod
    def from_config(cls, api_keys: str | None, *, public_reads: bool) -> AccessPolicy:
        pairs: list[tuple[str, Role]] = []
        for position, entry in enumerate(filter(None, (api_keys or "").split(",")), start=1):
            role_name, sep, key = entry.strip().partition(":")
            if not sep or not key:
                raise ApiKeyError(f"API key entry {position} is not 'role:key'")
            if role_name not in ("reporter", "admin"):
                raise ApiKeyError(
                    f"API key entry {position} has an unknown role; use reporter or admin"
                )
            hashed = _HASHED.match(key)
            if hashed is None and len(key) < _MIN_KEY_LENGTH:
                raise ApiKeyError(
                    f"API key entry {position} is shorter than {_MIN_KEY_LENGTH} characters"
                )
            pairs.append((hashed.group(1) if hashed else digest(key), Role[role_name.upper()]))
        return cls(tuple(pairs), public_reads)

    def identify(self, presented: str) -> Principal | None:
        presented_digest = digest(presented)
        match: Role | None = None
        # Compare against every entry, so the time taken says nothing about which one matched.
        for key_digest, role in self.key_roles:
            if hmac.compare_digest(key_digest, presented_digest):
                match = role
        return Principal(match, presented_digest[:8]) if match is not None else None
