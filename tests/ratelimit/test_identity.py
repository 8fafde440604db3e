"""Which budget a client address spends."""

from __future__ import annotations

import pytest

from roadhazard.ratelimit.identity import network_of


@pytest.mark.parametrize(
    ("host", "counted_as"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("testclient", "testclient"),
        ("", "unknown"),
    ],
)
def test_network_of(host: str, counted_as: str) -> None:
    assert network_of(host) == counted_as
