"""A real browser against the real service: Debian's Chromium driven by Playwright.

No browser is ever downloaded: Playwright launches the system's /usr/bin/chromium (another
path through ROADHAZARD_TEST_CHROMIUM). Without it the browser tests skip, naming the package.
The service serves on a real port (`tests.realtime.live`: uvicorn in a thread of its own);
reports are seeded through its reports service, on its own loop (`run_on`), so each goes
through the same store, de-duplication and images as a dashcam's.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from roadhazard.access.service import digest
from roadhazard.settings import Settings
from tests.dashboard.seed import Seeded, seed_reports
from tests.harness import make_settings
from tests.realtime.live import LiveServer, live_server

T = TypeVar("T")
CHROMIUM = Path(os.environ.get("ROADHAZARD_TEST_CHROMIUM", "/usr/bin/chromium"))
NO_CHROMIUM = (
    f"no Chromium at {CHROMIUM}: install Debian's package `chromium` "
    "(apt-get install -y chromium) to run the dashboard's browser tests"
)
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM)

ADMIN_KEY = "admin-dashboard-key-0123456789"
REPORTER_KEY = "reporter-dashboard-key-0123456789"
API_KEYS = f"admin:sha256={digest(ADMIN_KEY)},reporter:sha256={digest(REPORTER_KEY)}"
# Where CI keeps the screenshots (.ci/run); ignored by git.
SCREENSHOTS = Path(
    os.environ.get("ROADHAZARD_SCREENSHOT_DIR", Path(__file__).parents[2] / "artifacts/screenshots")
)
VIEWPORT = {"width": 1280, "height": 900}
ROWS = "#report-list button[data-id]"
# Deadlines for the page to show something: generous, for a busy two-core machine; a test
# waits only as long as the page takes.
expect.set_options(timeout=20_000)


def run_on(server: LiveServer, coroutine: Coroutine[Any, Any, T]) -> T:
    """Runs `coroutine` on the service's own loop (its objects belong there) and waits for it."""
    return asyncio.run_coroutine_threadsafe(coroutine, server.loop).result(60)


def dashboard_settings(raw_model: Path, **overrides: Any) -> Settings:
    """No tiles (nothing but the service may be asked for anything), a fast refresh, keys
    configured, and no rate limits, which a refresh every half second would reach."""
    values: dict[str, Any] = {
        "model_path": raw_model,
        "log_level": "WARNING",
        "api_keys": API_KEYS,
        "dashboard_tile_url": "",
        "dashboard_refresh_s": 0.5,
        "rate_limit_enabled": False,
        "offline_geocoder": True,
    }
    values.update(overrides)
    return make_settings(**values)


@dataclass
class Seen:
    """What a page did: requests, console errors, uncaught errors and dialogs (an alert from
    injected markup would be one)."""

    allowed_origins: set[str]
    urls: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Origins whose failed loads a test expects (a tile server that fails on purpose).
    failing_origins: set[str] = field(default_factory=set)

    def request(self, url: str) -> None:
        self.urls.append(url)
        if origin_of(url) not in self.allowed_origins:
            self.outside.append(url)

    def console(self, message: ConsoleMessage) -> None:
        source = str(message.location.get("url", ""))
        if message.type != "error":
            return
        if message.text.startswith("Failed to load resource") and (
            origin_of(source) in self.failing_origins
        ):
            return
        self.errors.append(f"console: {message.text} ({source})")

    def dialog(self, dialog: Dialog) -> None:
        self.errors.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def assert_clean(self) -> None:
        assert self.outside == [], "requests outside the service's origin"
        assert self.errors == [], "console errors, uncaught errors or dialogs"


@dataclass
class Browsing:
    page: Page
    service: LiveServer
    seen: Seen

    def open(self, query: str = "") -> Page:
        self.page.goto(f"{self.service.http_url}/dashboard{query}")
        return self.page


def origin_of(url: str) -> str:
    """The origin a request goes to; a blob: URL's is the page's that made it."""
    parts = urlsplit(url.removeprefix("blob:"))
    return f"{parts.scheme}://{parts.netloc}"


def watch(page: Page, origins: set[str]) -> Seen:
    seen = Seen(origins)
    page.on("request", lambda request: seen.request(request.url))
    page.on("console", seen.console)
    page.on("pageerror", lambda error: seen.errors.append(f"uncaught: {error}"))
    page.on(
        "dialog", lambda dialog: (seen.errors.append(f"dialog: {dialog.message}"), dialog.dismiss())
    )
    return seen


# Per module, not per session: while Playwright's sync driver runs, its event loop is the
# thread's running loop, and pytest-asyncio cannot run the suite's async tests beside it.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(NO_CHROMIUM)
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM))
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def seeded_service(raw_model: Path) -> Iterator[tuple[LiveServer, Seeded]]:
    with live_server(dashboard_settings(raw_model)) as service:
        yield service, run_on(service, seed_reports(service.state.reports))


@pytest.fixture
def service(seeded_service: tuple[LiveServer, Seeded]) -> LiveServer:
    return seeded_service[0]


@pytest.fixture
def seeded(seeded_service: tuple[LiveServer, Seeded]) -> Seeded:
    return seeded_service[1]


@contextmanager
def browse(browser: Browser, service: LiveServer, *extra_origins: str) -> Iterator[Browsing]:
    """A fresh browser context (its own sessionStorage) on the dashboard of `service`."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    seen = watch(page, {service.http_url, *extra_origins})
    try:
        yield Browsing(page, service, seen)
    finally:
        context.close()


@pytest.fixture
def browsing(browser: Browser, service: LiveServer) -> Iterator[Browsing]:
    with browse(browser, service) as session:
        yield session


def expect_image_loaded(page: Page, selector: str) -> None:
    """Waits until the image is loaded and has pixels (naturalWidth > 0)."""
    page.wait_for_function(
        "s => { const i = document.querySelector(s); return !!i?.complete && i.naturalWidth > 0 }",
        arg=selector,
    )
