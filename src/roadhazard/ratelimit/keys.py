"""The Redis keys of rate limits (rules in `roadhazard.redis.keys`)."""

from __future__ import annotations

from roadhazard.redis.keys import PREFIX, digest, key_part


def rate_limit_counter(group: str, identity: str) -> str:
    """Hash: one client's request counts in one rate-limit group, this window's and the last.

    Each client and group is its own hash tag, so clients spread across a cluster. The identity
    (an API key's id or a client IP) is hashed: an IP address has no business in a key name.
    """
    return f"{PREFIX}{{rl:{key_part('rate limit group', group)}:{digest(identity)}}}"
