"""Which proxies may name the client through X-Forwarded-For and X-Forwarded-Proto.

uvicorn replaces the ASGI client with the forwarded one only for connections from these
addresses; the rate limits count a client by that address, so a proxy trusted by mistake lets
anyone choose their own budget. The default trusts nobody.
"""

from __future__ import annotations

import ipaddress

TRUST_EVERY_PROXY = "*"


def check_trusted_proxies(value: str) -> str:
    """`*`, or comma-separated addresses and networks (`10.0.0.5,10.1.0.0/16`), normalised;
    an empty value trusts nobody."""
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    if entries == [TRUST_EVERY_PROXY]:
        return TRUST_EVERY_PROXY
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(
                f"{entry!r} is not an IP address or network; give addresses or networks"
                " separated by commas, or * to trust every proxy"
            ) from None
    return ",".join(entries)
