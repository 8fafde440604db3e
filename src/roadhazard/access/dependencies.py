"""FastAPI dependencies that admit a request for a role, or answer 401 / 403."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import structlog
from fastapi import Depends, Request

from roadhazard.access.service import (
    ANONYMOUS_ADMIN,
    ANONYMOUS_READER,
    AccessPolicy,
    Principal,
    Role,
)
from roadhazard.errors import Forbidden, Unauthorized

API_KEY_HEADER = "X-API-Key"


async def get_access_policy(request: Request) -> AccessPolicy:
    policy: AccessPolicy = request.app.state.access_policy
    return policy


AccessPolicyDep = Annotated[AccessPolicy, Depends(get_access_policy)]


def _presented_key(request: Request) -> str | None:
    key = request.headers.get(API_KEY_HEADER)
    if key:
        return key
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


def require(role: Role) -> Callable[[Request, AccessPolicy], Awaitable[Principal]]:
    async def admit(request: Request, policy: AccessPolicyDep) -> Principal:
        if policy.open_access:
            return ANONYMOUS_ADMIN
        key = _presented_key(request)
        if key is None:
            if role is Role.READER and policy.public_reads:
                return ANONYMOUS_READER
            raise Unauthorized(f"Send an API key in {API_KEY_HEADER} or as a Bearer token.")
        principal = policy.identify(key)
        if principal is None:
            raise Unauthorized("The API key is not valid.")
        if principal.role < role:
            raise Forbidden(f"This needs the {role.name.lower()} role.")
        structlog.contextvars.bind_contextvars(api_key_id=principal.key_id)
        return principal

    return admit


ReaderDep = Annotated[Principal, Depends(require(Role.READER))]
ReporterDep = Annotated[Principal, Depends(require(Role.REPORTER))]
AdminDep = Annotated[Principal, Depends(require(Role.ADMIN))]
