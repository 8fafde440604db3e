"""The dashboard in a real browser, against the real service with generated reports: the map's
clusters and markers, the filters, a report's details, the actions, the refresh."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageStat
from playwright.sync_api import Page, expect

from tests.dashboard.conftest import (
    ADMIN_KEY,
    REPORTER_KEY,
    ROWS,
    SCREENSHOTS,
    Browsing,
    expect_image_loaded,
    needs_chromium,
    run_on,
)
from tests.dashboard.seed import CENTRE, STREET, XSS, Seeded, file_report
from tests.realtime.live import LiveServer

pytestmark = needs_chromium

ACTIONS = ["Confirm", "Start work", "Mark fixed", "Dismiss"]


def view(lat: float, lon: float, zoom: int, **extra: str) -> str:
    query = "&".join(f"{name}={value}" for name, value in extra.items())
    return f"?map={lat},{lon},{zoom}" + (f"&{query}" if query else "")


CITY = (CENTRE[0], CENTRE[1], 12)
STREET_MIDDLE = (STREET[0] + 0.0006, STREET[1])


def api_ids(service: LiveServer, **params: Any) -> list[str]:
    answer = httpx.get(
        f"{service.http_url}/v1/reports", params={"limit": 200, **params}, timeout=30
    )
    answer.raise_for_status()
    return [report["service_request_id"] for report in answer.json()["reports"]]


def api_report(service: LiveServer, report_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{service.http_url}/v1/reports/{report_id}", timeout=30)
    answer.raise_for_status()
    report: dict[str, Any] = answer.json()
    return report


def expect_listed(page: Page, ids: list[str]) -> None:
    """Waits until the list shows exactly these reports, in this order."""
    page.wait_for_function(
        """ids => JSON.stringify([...document.querySelectorAll(
            '#report-list button[data-id]')].map(b => b.dataset.id)) === JSON.stringify(ids)""",
        arg=ids,
    )


def zoom_in_to(page: Page, zoom: int) -> None:
    """Zooms with the map's own button, one step at a time, until the address says `zoom`."""
    current = int(re.search(r"map=[^&]*%2C(\d+)", page.url).group(1))  # type: ignore[union-attr]
    for step in range(current + 1, zoom + 1):
        page.get_by_role("button", name="Zoom in", exact=True).click()
        expect(page).to_have_url(re.compile(rf"map=[^&]*%2C{step}(&|$)"))


def test_the_map_shows_clusters_then_each_report_when_zoomed_in(
    browsing: Browsing, seeded: Seeded
) -> None:
    page = browsing.open(view(*STREET_MIDDLE, 13))

    cells = page.locator(".rh-marker-cell")
    expect(cells.first).to_be_visible()
    labels = cells.evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
    assert any(re.match(r"([2-9]|\d\d+) reports here: ", label) for label in labels), labels
    expect(page.locator(".leaflet-control-scale")).to_be_visible()  # no tiles: a scale bar

    zoom_in_to(page, 17)
    for report_id in seeded.street:
        expect(page.locator(f'.rh-marker-report[data-feature-id="{report_id}"]')).to_have_count(1)
    expect(cells).to_have_count(0)
    # The list follows the map: the street's reports, newest first.
    expect_listed(page, [i for i in api_ids(browsing.service) if i in seeded.street])

    # A marker opens with the keyboard; Escape closes the report again.
    page.locator(f'[data-feature-id="{seeded.xss}"]').focus()
    page.keyboard.press("Enter")
    heading = page.locator("#detail-heading")
    expect(heading).to_have_text("Pothole (D40)")
    expect(heading).to_be_focused()
    expect(page).to_have_url(re.compile(f"report={seeded.xss}"))
    page.keyboard.press("Escape")
    expect(heading).to_have_text("Report")
    expect(page.locator(f'#report-list [data-id="{seeded.xss}"]')).to_be_focused()
    browsing.seen.assert_clean()


def test_filters_narrow_the_map_and_list_and_stay_in_the_address(
    browsing: Browsing, seeded: Seeded
) -> None:
    service = browsing.service
    page = browsing.open(view(*CITY))
    expect(page.locator(ROWS)).to_have_count(25)

    page.get_by_label("Class", exact=True).select_option("D40")
    expect(page).to_have_url(re.compile("service_code=D40"))
    expect_listed(page, api_ids(service, service_code="D40"))
    labels = page.locator(".rh-marker-cell, .rh-marker-report").evaluate_all(
        "els => els.map(e => e.getAttribute('aria-label'))"
    )
    assert labels
    assert all("Pothole" in label and "crack" not in label for label in labels), labels

    page.get_by_label("Min. confidence").fill("0.75")
    page.get_by_label("Min. confidence").press("Enter")
    expect_listed(page, api_ids(service, service_code="D40", min_confidence=0.75))

    page.get_by_label("Min. confidence").fill("")
    page.get_by_label("Session").fill("street-survey")
    page.get_by_label("Session").press("Enter")
    street_potholes = api_ids(service, service_code="D40", session_id="street-survey")
    assert len(street_potholes) == 2
    expect_listed(page, street_potholes)

    # The address is the view: another tab opened on it shows the same.
    shared = page.context.new_page()
    shared.goto(page.url)
    expect(shared.get_by_label("Class", exact=True)).to_have_value("D40")
    expect(shared.get_by_label("Session")).to_have_value("street-survey")
    expect_listed(shared, street_potholes)
    shared.close()

    page.get_by_role("button", name="Clear filters").click()
    page.get_by_label("State").select_option("confirmed")
    expect_listed(page, api_ids(service, state="confirmed"))
    page.get_by_label("State").select_option("")
    page.get_by_label("From").fill("2099-01-01")
    expect(page.locator("#list-note")).to_have_text("No reports match the filters in this view.")
    expect(page.locator(".rh-marker")).to_have_count(0)
    browsing.seen.assert_clean()


def test_a_report_shows_its_photos_facts_and_history_and_markup_as_text(
    browsing: Browsing, seeded: Seeded
) -> None:
    page = browsing.open(view(*STREET_MIDDLE, 17, report=seeded.xss))
    detail = page.locator("#detail")

    expect(page.locator("#detail-heading")).to_have_text("Pothole (D40)")
    expect_image_loaded(page, '#detail img[data-kind="original"]')
    expect_image_loaded(page, '#detail img[data-kind="annotated"]')
    expect(detail.locator('[data-fact="confidence"]')).to_have_text("81 %")
    expect(detail.locator('[data-fact="session"]')).to_contain_text("street-survey")
    # The address arrives from the background geocoder; the refresh shows it.
    expect(detail.locator('[data-fact="address"]')).to_contain_text("Amsterdam")
    expect(detail.locator(".timeline li")).to_have_count(1)
    expect(detail.locator(".timeline li")).to_contain_text("new")

    # Markup a reporter wrote is shown as text, in the report and in the list.
    expect(detail.locator('[data-fact="description"]')).to_have_text(XSS)
    expect(page.locator(f'[data-id="{seeded.xss}"] .row-description')).to_have_text(XSS)
    expect(page.locator('img[src="x"]')).to_have_count(0)
    browsing.seen.assert_clean()


def test_duplicates_and_confirmations_link_to_each_other(
    browsing: Browsing, seeded: Seeded
) -> None:
    page = browsing.open(view(*CITY, report=seeded.original))
    detail = page.locator("#detail")

    expect(detail).to_contain_text("Confirmed by 1 later report:")
    detail.get_by_role("link", name=seeded.duplicate).click()
    expect(page).to_have_url(re.compile(f"report={seeded.duplicate}"))
    expect(detail.locator(".badges")).to_contain_text("duplicate")
    expect(detail).to_contain_text("A duplicate of")
    detail.get_by_role("link", name=seeded.original).click()
    expect(page).to_have_url(re.compile(f"report={seeded.original}"))
    browsing.seen.assert_clean()


def test_an_admin_key_confirms_a_report_on_the_page_and_in_the_api(
    browsing: Browsing, seeded: Seeded
) -> None:
    target = seeded.street[3]  # a new pothole
    page = browsing.open(view(*STREET_MIDDLE, 17, report=target))
    confirm = page.get_by_role("button", name="Confirm", exact=True)
    expect(confirm).to_be_disabled()

    page.get_by_label("API key", exact=True).fill(ADMIN_KEY)
    page.get_by_role("button", name="Use key").click()
    expect(confirm).to_be_enabled()
    expect(page.get_by_role("button", name="Start work", exact=True)).to_be_disabled()
    confirm.click()

    detail = page.locator("#detail")
    expect(detail.locator(".actions-note")).to_have_text("Report confirmed.")
    expect(detail.locator(".badges .badge").first).to_have_text("confirmed")
    expect(detail.locator(".timeline li")).to_have_count(2)
    expect(page.get_by_role("button", name="Start work", exact=True)).to_be_enabled()
    expect(page.locator(f'[data-id="{target}"] .badge')).to_have_text("confirmed")
    assert api_report(browsing.service, target)["state"] == "confirmed"
    # The key is kept in this tab's sessionStorage, never in an address.
    assert page.evaluate("sessionStorage.getItem('roadhazard.apiKey')") == ADMIN_KEY
    assert not [url for url in browsing.seen.urls if ADMIN_KEY in url]
    assert ADMIN_KEY not in page.url
    browsing.seen.assert_clean()


def test_without_a_key_the_actions_are_disabled_and_the_api_refuses_them(
    browsing: Browsing, seeded: Seeded
) -> None:
    target = seeded.street[0]
    page = browsing.open(view(*STREET_MIDDLE, 17, report=target))
    for name in ACTIONS:
        expect(page.get_by_role("button", name=name, exact=True)).to_be_disabled()
    expect(page.locator(".actions-note")).to_have_text(
        "Actions need an admin API key: enter it above. It is kept for this tab only."
    )

    url = f"{browsing.service.http_url}/v1/reports/{target}/confirm"
    assert page.request.post(url).status == 401
    assert page.request.post(url, headers={"X-API-Key": REPORTER_KEY}).status == 403
    assert api_report(browsing.service, target)["state"] == "new"

    # A key given and then forgotten: the actions are disabled again.
    page.get_by_label("API key", exact=True).fill(ADMIN_KEY)
    page.get_by_role("button", name="Use key").click()
    expect(page.get_by_role("button", name="Confirm", exact=True)).to_be_enabled()
    page.get_by_role("button", name="Forget key").click()
    expect(page.get_by_role("button", name="Confirm", exact=True)).to_be_disabled()
    assert page.evaluate("sessionStorage.getItem('roadhazard.apiKey')") is None
    browsing.seen.assert_clean()


def test_a_refresh_shows_new_reports_and_keeps_the_selection_scroll_and_view(
    browsing: Browsing, seeded: Seeded
) -> None:
    service = browsing.service
    page = browsing.open(view(*CITY, report=seeded.original))
    expect(page.locator(ROWS)).to_have_count(25)
    page.get_by_role("button", name="Load more").click()
    expect_listed(page, api_ids(service)[:50])
    scroller = page.locator("#list-scroller")
    scroller.evaluate("el => { el.scrollTop = 300 }")
    address = page.url

    fresh = run_on(
        service,
        file_report(service.state.reports, "D50", (CENTRE[0] + 0.01, CENTRE[1]), session="van-9"),
    )
    expect(page.locator(f'#report-list [data-id="{fresh}"]')).to_have_count(1)
    total = httpx.get(f"{service.http_url}/v1/reports/stats", timeout=30).json()["total"]
    expect(page.locator("#stats")).to_contain_text(f"{total} reports in all")

    assert scroller.evaluate("el => el.scrollTop") == 300
    expect(page.locator(f'#report-list [data-id="{seeded.original}"]')).to_have_attribute(
        "aria-current", "true"
    )
    expect(page.locator("#detail-heading")).to_have_text("Pothole (D40)")
    assert page.url == address
    browsing.seen.assert_clean()


@pytest.mark.parametrize("width", [768, 1024])
def test_a_tablet_screen_shows_map_list_and_report_without_scrolling_sideways(
    browsing: Browsing, seeded: Seeded, width: int
) -> None:
    page = browsing.page
    page.set_viewport_size({"width": width, "height": 1024})
    browsing.open(view(*CITY, report=seeded.original))
    expect(page.locator("#detail-heading")).to_have_text("Pothole (D40)")
    for panel in ("#map", "#report-list", "#detail"):
        expect(page.locator(panel)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    browsing.seen.assert_clean()


def _assert_not_blank(path: Path) -> None:
    """A screenshot of something: its pixels vary, in many colours."""
    with Image.open(path) as shot:
        grey = shot.convert("L")
        spread = ImageStat.Stat(grey).stddev[0]
        colours = shot.convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert spread > 12, (path.name, spread)
    assert len(colours) > 64, (path.name, len(colours))


def test_screenshots_of_the_map_list_and_report_are_kept_and_not_blank(
    browsing: Browsing, seeded: Seeded
) -> None:
    page = browsing.open(view(*CITY, report=seeded.original))
    expect(page.locator(".rh-marker-cell").first).to_be_visible()
    expect(page.locator(ROWS)).to_have_count(25)
    expect_image_loaded(page, '#detail img[data-kind="annotated"]')
    expect(page.locator("#stats canvas")).to_have_count(1)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots = {
        "map": page.locator(".map-panel"),
        "list": page.locator(".list-panel"),
        "detail": page.locator("#detail"),
    }

    for name, panel in shots.items():
        panel.screenshot(path=SCREENSHOTS / f"{name}.png", animations="disabled")
    page.screenshot(path=SCREENSHOTS / "dashboard.png", full_page=True, animations="disabled")

    for name in [*shots, "dashboard"]:
        _assert_not_blank(SCREENSHOTS / f"{name}.png")
    browsing.seen.assert_clean()
