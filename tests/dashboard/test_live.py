"""The dashboard's live updates, in a real browser: with the periodic refresh an hour away, a
report filed and a report confirmed through the HTTP API show on the page through the live
feed of report events (GET /v1/reports/events), read with fetch so a key can go in a header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Request, Route, expect

from tests.dashboard.conftest import (
    ADMIN_KEY,
    REPORTER_KEY,
    Browsing,
    browse,
    dashboard_settings,
    needs_chromium,
)
from tests.dashboard.seed import CENTRE
from tests.realtime.live import LiveServer, live_server

pytestmark = needs_chromium

# Long enough that nothing a test waits for can come from the periodic refresh.
NO_POLLING = {"dashboard_refresh_s": 3600}
VIEW = f"?map={CENTRE[0]},{CENTRE[1]},13"


@pytest.fixture(scope="module")
def quiet_service(raw_model: Path) -> Iterator[LiveServer]:
    with live_server(dashboard_settings(raw_model, **NO_POLLING)) as service:
        yield service


@pytest.fixture
def live_browsing(browser: Browser, quiet_service: LiveServer) -> Iterator[Browsing]:
    with browse(browser, quiet_service) as session:
        yield session


def file_report(service: LiveServer, code: str, offset: float, key: str = REPORTER_KEY) -> str:
    answer = httpx.post(
        f"{service.http_url}/v1/reports",
        json={"service_code": code, "lat": CENTRE[0] + offset, "lon": CENTRE[1] + offset},
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    report_id: str = answer.json()["service_request_id"]
    return report_id


def total(service: LiveServer, key: str | None = None) -> Any:
    headers = {"X-API-Key": key} if key else {}
    answer = httpx.get(f"{service.http_url}/v1/reports/stats", headers=headers, timeout=30)
    answer.raise_for_status()
    return answer.json()["total"]


def expect_live(page: Page) -> None:
    status = page.locator("#live-status")
    expect(status).to_have_text("Live")
    expect(status).to_have_attribute("aria-live", "polite")


def test_a_report_filed_through_the_api_appears_on_the_page_live(
    live_browsing: Browsing,
) -> None:
    service = live_browsing.service
    page = live_browsing.open(VIEW)
    expect_live(page)

    filed = file_report(service, "D40", 0.001)
    expect(page.locator(f'#report-list [data-id="{filed}"]')).to_have_count(1)
    expect(page.locator(".rh-marker").first).to_be_visible()
    expect(page.locator("#stats")).to_contain_text(f"{total(service)} reports in all")

    # A burst: each report shows, the list refreshed at most about once a second.
    burst = [file_report(service, code, 0.004 + 0.003 * i) for i, code in enumerate(["D00", "D10"])]
    for report_id in burst:
        expect(page.locator(f'#report-list [data-id="{report_id}"]')).to_have_count(1)
    expect(page.locator("#live-status")).to_have_text("Live")
    live_browsing.seen.assert_clean()


def test_a_state_change_through_the_api_reloads_the_open_report(
    live_browsing: Browsing,
) -> None:
    service = live_browsing.service
    target = file_report(service, "D20", -0.002)
    page = live_browsing.open(f"{VIEW}&report={target}")
    detail = page.locator("#detail")
    expect(detail.locator(".badges .badge").first).to_have_text("new")
    expect_live(page)

    answer = httpx.post(
        f"{service.http_url}/v1/reports/{target}/confirm",
        headers={"X-API-Key": ADMIN_KEY},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    expect(detail.locator(".badges .badge").first).to_have_text("confirmed")
    expect(detail.locator(".timeline li")).to_have_count(2)
    expect(page.locator(f'#report-list [data-id="{target}"] .badge')).to_have_text("confirmed")
    live_browsing.seen.assert_clean()


def test_the_feed_parser_follows_the_event_stream_format(live_browsing: Browsing) -> None:
    page = live_browsing.open(VIEW)
    expect_live(page)
    parsed = page.evaluate(
        """async () => {
            const { EventStreamParser } = await import("./dashboard/static/js/events.js");
            const events = [];
            const retries = [];
            const parser = new EventStreamParser({
                onEvent: (event) => events.push(event), onRetry: (ms) => retries.push(ms),
            });
            const text = "retry: 3000\\n: connected\\n\\nid: 1-0\\nevent: report.created\\n"
                + "data: {\\"a\\":1}\\n\\n: heartbeat\\n\\nid: 2-0\\r\\nevent: reset\\r\\n"
                + "data: x\\r\\ndata:y\\r\\n\\r\\nid: 3-0\\n\\n";
            for (let at = 0; at < text.length; at += 5) parser.push(text.slice(at, at + 5));
            return { events, retries, lastId: parser.lastId };
        }"""
    )
    assert parsed == {
        "events": [
            {"type": "report.created", "data": '{"a":1}', "id": "1-0"},
            {"type": "reset", "data": "x\ny", "id": "2-0"},
        ],
        "retries": [3000],
        "lastId": "3-0",
    }
    live_browsing.seen.assert_clean()


def test_the_feed_reconnects_after_retry_with_the_last_event_id(live_browsing: Browsing) -> None:
    page = live_browsing.page
    opened: list[Route] = []

    def feed(route: Route) -> None:
        opened.append(route)
        if len(opened) > 1:  # the reconnection: the real feed (which answers `reset`)
            route.continue_()
            return
        event = '{"type":"report.created","report_id":"r1","lat":null,"lon":null}'
        route.fulfill(
            status=200,
            headers={"Content-Type": "text/event-stream"},
            body=f"retry: 50\nid: 5-0\nevent: report.created\ndata: {event}\n\n",
        )

    page.route("**/v1/reports/events*", feed)
    with page.expect_request(
        lambda request: (
            "/v1/reports/events" in request.url and request.headers.get("last-event-id") == "5-0"
        )
    ):
        live_browsing.open(VIEW)
    expect_live(page)
    live_browsing.seen.assert_clean()


def test_when_reads_need_a_key_the_feed_sends_it_in_a_header(
    browser: Browser, raw_model: Path
) -> None:
    settings = dashboard_settings(raw_model, public_reads=False, **NO_POLLING)
    with live_server(settings) as service, browse(browser, service) as browsing:
        feeds: list[Request] = []
        browsing.page.on(
            "request",
            lambda request: feeds.append(request) if "/v1/reports/events" in request.url else None,
        )
        page = browsing.open(VIEW)
        expect(page.locator("#status")).to_have_text(
            "This service needs an API key to show reports: enter one above."
        )
        expect(page.locator("#live-status")).to_have_text("")
        page.get_by_label("API key", exact=True).fill(REPORTER_KEY)
        page.get_by_role("button", name="Use key").click()
        expect_live(page)

        filed = file_report(service, "D40", 0.001)
        expect(page.locator(f'#report-list [data-id="{filed}"]')).to_have_count(1)
        expect(page.locator("#stats")).to_contain_text(
            f"{total(service, REPORTER_KEY)} reports in all"
        )
        assert feeds
        assert all(request.all_headers().get("x-api-key") == REPORTER_KEY for request in feeds)
        assert not [url for url in browsing.seen.urls if REPORTER_KEY in url]
        browsing.seen.assert_clean()
