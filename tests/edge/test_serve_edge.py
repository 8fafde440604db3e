"""`roadhazard serve` at the edge: header limits and forwarded addresses, on real sockets."""

from __future__ import annotations

import contextlib
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.test_serve import serving

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="serves real processes")

# Reads: two per client per window, so the third from one client is refused.
TWO_READS = {"ROADHAZARD_RATE_LIMIT_READS": "2"}


def _raw_exchange(url: str, request: bytes) -> bytes:
    """Sends raw bytes and reads the answer until the server closes the connection."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        # Refused part-way, the rest cannot be sent; the answer was written before the close.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
        return answer


def _reads_from(url: str, forwarded_for: list[str]) -> list[int]:
    with httpx.Client(base_url=url, timeout=10) as client:
        return [
            client.get("/v1/reports", headers={"X-Forwarded-For": address}).status_code
            for address in forwarded_for
        ]


def test_oversized_heads_are_refused_with_431_and_spoofed_addresses_ignored(
    raw_model: Path,
) -> None:
    with serving(raw_model, workers=1, announce_s=0, extra_env=TWO_READS) as served:
        endless_header = b"GET /health HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * (4 * 1024 * 1024)
        refused_head = _raw_exchange(served.url, endless_header)
        too_many = httpx.get(
            f"{served.url}/health", headers={f"x-h{n}": "v" for n in range(150)}, timeout=10
        )
        normal = httpx.get(f"{served.url}/health", headers={"x-note": "v" * 4000}, timeout=10)
        # Three addresses, one client: X-Forwarded-For from an untrusted peer changes nothing.
        spoofed = _reads_from(served.url, ["203.0.113.1", "203.0.113.2", "203.0.113.3"])

    status_line, _, rest = refused_head.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 431 Request Header Fields Too Large"
    assert b"content-type: application/problem+json" in rest
    assert b'"request_id"' in rest
    assert too_many.status_code == 431
    assert too_many.json()["request_id"] == too_many.headers["x-request-id"]
    assert normal.status_code == 200
    assert spoofed == [200, 200, 429]


def test_a_trusted_proxy_names_the_client(raw_model: Path) -> None:
    env = {**TWO_READS, "ROADHAZARD_FORWARDED_ALLOW_IPS": "127.0.0.1"}
    with serving(raw_model, workers=1, announce_s=0, extra_env=env) as served:
        clients = _reads_from(served.url, ["203.0.113.1", "203.0.113.2", "203.0.113.3"])
        one_client = _reads_from(served.url, ["203.0.113.9"] * 3)

    assert clients == [200, 200, 200]
    assert one_client == [200, 200, 429]
