"""The coverage layer in a real browser: scanned cells shaded by age with a legend when turned
on, and the track of the session the page is filtered to, on demand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import expect

from roadhazard.coverage.store import Scan
from tests.dashboard.conftest import ADMIN_KEY, Browsing, needs_chromium, run_on
from tests.dashboard.seed import STREET
from tests.realtime.live import LiveServer

pytestmark = needs_chromium

CELLS = ".leaflet-overlay-pane path.coverage-cell"


def drive(service: LiveServer) -> str:
    """A real session, and ten frames a minute ago along the street, 20 m apart, going north."""
    opened = httpx.post(
        f"{service.http_url}/v1/sessions",
        json={"source": "dashcam", "device": "coverage test"},
        headers={"X-API-Key": ADMIN_KEY},
        timeout=30,
    )
    opened.raise_for_status()
    session_id: str = opened.json()["id"]
    start = datetime.now(UTC) - timedelta(minutes=1)
    for step in range(10):
        scan = Scan(session_id, STREET[0] + step * 0.00018, STREET[1], 0.0, start)
        run_on(service, service.state.coverage.record(scan, now=datetime.now(UTC)))
        start += timedelta(seconds=2)
    return session_id


def test_the_coverage_layer_shades_scanned_cells_and_shows_a_sessions_track(
    browsing: Browsing, service: LiveServer
) -> None:
    session_id = drive(browsing.service)
    page = browsing.open(f"?map={STREET[0] + 0.0008},{STREET[1]},16")
    page.get_by_label("API key", exact=True).fill(ADMIN_KEY)
    page.get_by_role("button", name="Use key").click()
    # Filtered to a session, the page offers its track (its opener's key, or an admin's, reads it).
    page.get_by_label("Session", exact=True).fill(session_id)
    page.get_by_role("button", name="Show the session's track").click()
    expect(page.locator(".leaflet-overlay-pane path.coverage-track")).to_have_count(1)
    legend = page.locator("#coverage-legend")
    expect(legend).to_be_hidden()

    page.get_by_label("Show scanned streets").check()

    expect(legend).to_be_visible()
    expect(legend.get_by_text("within a day")).to_be_visible()
    # 10 frames over 180 m of street, in cells of about 150 m: two cells, or three at a border.
    expect(page.locator(CELLS).first).to_be_visible()
    assert 2 <= page.locator(CELLS).count() <= 3
    assert page.locator(CELLS).first.get_attribute("fill") == "#1a9850"  # within a day

    page.get_by_label("Show scanned streets").uncheck()
    expect(page.locator(CELLS)).to_have_count(0)
    expect(legend).to_be_hidden()
    browsing.seen.assert_clean()
