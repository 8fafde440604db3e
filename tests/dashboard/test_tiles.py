"""The map's background tiles in a real browser: loaded from the configured tile server, which
the page's policy admits, with its attribution; and when that server fails, a plain
background with a scale bar, and the reports still drawn."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.dashboard.conftest import browse, dashboard_settings, needs_chromium, run_on
from tests.dashboard.seed import CENTRE, seed_reports
from tests.fakes.server import Fault, FaultInjector, serving
from tests.realtime.live import live_server

pytestmark = needs_chromium

ATTRIBUTION = "© [Test tiles](https://tiles.example/copyright) contributors"


def _tile_png() -> bytes:
    tile = Image.new("RGB", (256, 256), (236, 232, 220))
    draw = ImageDraw.Draw(tile)
    for offset in range(0, 256, 32):
        draw.line([(offset, 0), (offset, 255)], fill=(200, 196, 184))
        draw.line([(0, offset), (255, offset)], fill=(200, 196, 184))
    out = io.BytesIO()
    tile.save(out, "PNG")
    return out.getvalue()


@dataclass
class TileServer:
    url: str
    faults: FaultInjector
    served: list[str] = field(default_factory=list)


@pytest.fixture
def tile_server() -> Iterator[TileServer]:
    png = _tile_png()
    faults = FaultInjector()
    served: list[str] = []

    async def tile(request: Request) -> Response:
        failed = await faults.apply()
        if failed is not None:
            return failed
        served.append(request.url.path)
        return Response(png, media_type="image/png")

    app = Starlette(routes=[Route("/tiles/{z:int}/{x:int}/{y:int}.png", tile)])
    with serving(app) as url:
        yield TileServer(url, faults, served)


def _open_city(browser: Browser, raw_model: Path, tiles: TileServer, *, failing: bool) -> None:
    settings = dashboard_settings(
        raw_model,
        dashboard_tile_url=f"{tiles.url}/tiles/{{z}}/{{x}}/{{y}}.png",
        dashboard_tile_attribution=ATTRIBUTION,
    )
    with live_server(settings) as service, browse(browser, service, tiles.url) as browsing:
        run_on(service, seed_reports(service.state.reports))
        if failing:
            tiles.faults.set(Fault.ERROR_500)
            browsing.seen.failing_origins.add(tiles.url)
        page = browsing.open(f"?map={CENTRE[0]},{CENTRE[1]},13")
        expect(page.locator(".rh-marker").first).to_be_visible()
        expect(page.locator(".leaflet-control-scale")).to_be_visible()
        credit = page.locator(".leaflet-control-attribution")
        expect(credit).to_have_text("© Test tiles contributors")
        expect(credit.get_by_role("link", name="Test tiles")).to_have_attribute(
            "href", "https://tiles.example/copyright"
        )
        if failing:
            expect(page.locator("#map.tiles-failed")).to_have_count(1)
            expect(page.locator("#tiles-note")).to_have_text(
                "The map tiles could not be loaded: the map shows a plain background."
            )
        else:
            expect(page.locator("img.leaflet-tile-loaded").first).to_be_visible()
            expect(page.locator("#map.tiles-failed")).to_have_count(0)
        browsing.seen.assert_clean()


def test_tiles_load_from_the_configured_server_with_its_attribution(
    browser: Browser, raw_model: Path, tile_server: TileServer
) -> None:
    _open_city(browser, raw_model, tile_server, failing=False)

    assert tile_server.served
    assert all(path.startswith("/tiles/13/") for path in tile_server.served)


def test_without_tiles_the_map_has_a_plain_background_and_a_scale_bar(
    browser: Browser, raw_model: Path, tile_server: TileServer
) -> None:
    _open_city(browser, raw_model, tile_server, failing=True)

    assert tile_server.served == []
    assert tile_server.faults.seen > 0
