"""ROADHAZARD_FORWARDED_ALLOW_IPS: nobody by default, addresses and networks, or `*`."""

from __future__ import annotations

import pytest

from roadhazard.configuration import ConfigurationError, load_settings
from roadhazard.edge.protocol import uvicorn_options


def test_by_default_no_proxy_is_trusted_and_forwarded_headers_are_not_read() -> None:
    settings = load_settings(_env_file=None)
    options = uvicorn_options(settings)

    assert settings.forwarded_allow_ips == ""
    assert options["proxy_headers"] is False


@pytest.mark.parametrize(
    ("value", "normalised"),
    [(" 10.0.0.5 , 10.1.0.0/16,::1", "10.0.0.5,10.1.0.0/16,::1"), ("*", "*")],
)
def test_trusted_proxies_are_handed_to_uvicorn(value: str, normalised: str) -> None:
    options = uvicorn_options(load_settings(_env_file=None, forwarded_allow_ips=value))

    assert options["proxy_headers"] is True
    assert options["forwarded_allow_ips"] == normalised


@pytest.mark.parametrize("value", ["proxy.example", "10.0.0.300", "*,10.0.0.1"])
def test_anything_but_addresses_and_networks_is_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match="ROADHAZARD_FORWARDED_ALLOW_IPS"):
        load_settings(_env_file=None, forwarded_allow_ips=value)
