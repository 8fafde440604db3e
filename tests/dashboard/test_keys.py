"""With PUBLIC_READS off the page asks for a key before it reads anything, then shows the
reports and their photos (fetched with the key), in a real browser."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, expect

from tests.dashboard.conftest import (
    REPORTER_KEY,
    ROWS,
    browse,
    dashboard_settings,
    expect_image_loaded,
    needs_chromium,
    run_on,
)
from tests.dashboard.seed import CENTRE, seed_reports
from tests.realtime.live import live_server

pytestmark = needs_chromium


def test_when_reads_need_a_key_the_page_asks_for_one_then_shows_the_reports(
    browser: Browser, raw_model: Path
) -> None:
    settings = dashboard_settings(raw_model, public_reads=False)
    with live_server(settings) as service, browse(browser, service) as browsing:
        seeded = run_on(service, seed_reports(service.state.reports))
        page = browsing.open(f"?map={CENTRE[0]},{CENTRE[1]},12&report={seeded.xss}")
        expect(page.locator("#status")).to_have_text(
            "This service needs an API key to show reports: enter one above."
        )
        assert not [url for url in browsing.seen.urls if "/v1/" in url]

        page.get_by_label("API key", exact=True).fill(REPORTER_KEY)
        page.get_by_role("button", name="Use key").click()
        expect(page.locator("#status")).to_have_text("")
        expect(page.locator(ROWS)).to_have_count(25)
        expect(page.locator(".rh-marker").first).to_be_visible()
        expect(page.locator("#detail-heading")).to_have_text("Pothole (D40)")
        expect_image_loaded(page, '#detail img[data-kind="original"]')
        expect_image_loaded(page, '#detail img[data-kind="annotated"]')
        assert (
            page.locator('#detail img[data-kind="original"]')
            .get_attribute("src")
            .startswith("blob:")
        )
        browsing.seen.assert_clean()
