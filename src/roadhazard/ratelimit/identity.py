"""Whose budget a request spends: its API key's, or else its network address's.

The key is identified here again, not taken from the access dependency: the check then works
whichever dependency runs first, and a request with a wrong key spends its address's budget,
which also slows down anyone guessing keys. Identifying is one SHA-256; the policy compares in
constant time.

The address is the ASGI client's. X-Forwarded-For is not read here: uvicorn already replaces
the client with the forwarded one when the connection comes from a proxy it trusts (its
FORWARDED_ALLOW_IPS, by default only 127.0.0.1 and ::1), and anyone may send the header.
"""

from __future__ import annotations

import ipaddress

from starlette.requests import HTTPConnection

from roadhazard.access.dependencies import presented_key
from roadhazard.access.service import AccessPolicy, Principal

# A host gets a whole /64 in IPv6, and may use any address in it: counting each address
# separately would hand one client 2**64 budgets.
IPV6_PREFIX = 64


def client_identity(request: HTTPConnection) -> str:
    """`key:<key id>` for a request with a valid API key, else `ip:<address or /64>`."""
    policy: AccessPolicy | None = getattr(request.app.state, "access_policy", None)
    presented = presented_key(request)
    principal = policy.identify(presented) if policy is not None and presented else None
    return caller_identity(request, principal)


def caller_identity(connection: HTTPConnection, caller: Principal | None) -> str:
    """The budget of a caller already identified, wherever its key was sent (a WebSocket
    stream may send it in its first message): its key's, else its address's."""
    if caller is not None and caller.key_id is not None:
        return f"key:{caller.key_id}"
    return f"ip:{network_of(connection.client.host if connection.client else '')}"


def network_of(host: str) -> str:
    """The address an IPv4 client is counted by, or the /64 of an IPv6 one."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"  # a unix socket or a test client: one budget for all
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)
