"""FastAPI dependencies that admit a request for a role, or answer 401 / 403."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import structlog
from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from roadhazard.access.service import (
    ANONYMOUS_ADMIN,
    ANONYMOUS_READER,
    AccessPolicy,
    Principal,
    Role,
)
from roadhazard.errors import Forbidden, Unauthorized

API_KEY_HEADER = "X-API-Key"


async def get_access_policy(request: HTTPConnection) -> AccessPolicy:
    policy: AccessPolicy = request.app.state.access_policy
    return policy


AccessPolicyDep = Annotated[AccessPolicy, Depends(get_access_policy)]


def presented_key(request: HTTPConnection) -> str | None:
    """The API key in X-API-Key, else in `Authorization: Bearer`; None when neither has one.
    A request or a WebSocket's opening handshake alike."""
    key = request.headers.get(API_KEY_HEADER)
    if key:
        return key
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


MISSING_KEY = f"Send an API key in {API_KEY_HEADER} or as a Bearer token."


def authorise(
    policy: AccessPolicy, key: str | None, role: Role, *, missing_key: str = MISSING_KEY
) -> Principal:
    """Who presents `key` (None: no key), if they may act as `role`; else 401 (with
    `missing_key` as the detail when there is no key) or 403."""
    if policy.open_access:
        return ANONYMOUS_ADMIN
    if key is None:
        if role is Role.READER and policy.public_reads:
            return ANONYMOUS_READER
        raise Unauthorized(missing_key)
    principal = policy.identify(key)
    if principal is None:
        raise Unauthorized("The API key is not valid.")
    if principal.role < role:
        raise Forbidden(f"This needs the {role.name.lower()} role.")
    structlog.contextvars.bind_contextvars(api_key_id=principal.key_id)
    return principal


def require(role: Role) -> Callable[[Request, AccessPolicy], Awaitable[Principal]]:
    async def admit(request: Request, policy: AccessPolicyDep) -> Principal:
        return authorise(policy, presented_key(request), role)

    return admit


ReaderDep = Annotated[Principal, Depends(require(Role.READER))]
ReporterDep = Annotated[Principal, Depends(require(Role.REPORTER))]
AdminDep = Annotated[Principal, Depends(require(Role.ADMIN))]
