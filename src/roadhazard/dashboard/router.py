"""/dashboard: the page, its configuration, and its static files.

The page is one HTML file with no inline script or style; its scripts are ES modules under
/dashboard/static/ and read their configuration from /dashboard/config.json. Its content
security policy admits images from this origin and the tile server's only, and fetches from
this origin only. The page and its files hold no data, so they are public like the API
documentation's assets: the data comes from the reports API, with the key the user enters.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from roadhazard.access.dependencies import AccessPolicyDep
from roadhazard.access.service import AccessPolicy
from roadhazard.dashboard.schemas import DashboardConfigOut, HazardClassOut, TilesOut
from roadhazard.ratelimit import rate_limit
from roadhazard.settings import Settings, SettingsDep
from roadhazard.taxonomy import load_taxonomy
from roadhazard.urls import csp_source

PAGE = Path(__file__).parent / "index.html"
STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/dashboard/static"

router = APIRouter(include_in_schema=False, dependencies=[Depends(rate_limit("reads"))])


def image_sources(settings: Settings, *, reads_need_key: bool) -> list[str]:
    """Where the page may load images from: this origin, the tiles' and, with Cloudinary,
    its delivery host (a report's image URL redirects there once stored); and blob: when
    reads need a key, for the images the page then fetches with it."""
    sources = ["'self'", "blob:"] if reads_need_key else ["'self'"]
    urls = [settings.dashboard_tile_url]
    if settings.cloudinary is not None:
        urls.append(settings.cloudinary_delivery_url)
    sources += [source for url in urls if url and (source := csp_source(url)) is not None]
    return sources


def page_policy(settings: Settings, *, reads_need_key: bool) -> str:
    images = " ".join(image_sources(settings, reads_need_key=reads_need_key))
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src {images}; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


@router.get("/dashboard")
async def dashboard_page(settings: SettingsDep, policy: AccessPolicyDep) -> FileResponse:
    csp = page_policy(settings, reads_need_key=_reads_need_key(policy))
    return FileResponse(
        PAGE,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": csp, "Cache-Control": "no-cache"},
    )


@router.get("/dashboard/config.json", response_model=DashboardConfigOut)
async def dashboard_config(settings: SettingsDep, policy: AccessPolicyDep) -> DashboardConfigOut:
    url = settings.dashboard_tile_url
    return DashboardConfigOut(
        tiles=TilesOut(url=url, attribution=settings.dashboard_tile_attribution) if url else None,
        refresh_s=settings.dashboard_refresh_s,
        reads_need_key=_reads_need_key(policy),
        actions_need_key=not policy.open_access,
        classes=[
            HazardClassOut(code=hazard.code, name=hazard.name, severity=hazard.severity)
            for hazard in load_taxonomy().hazards
        ],
    )


def _reads_need_key(policy: AccessPolicy) -> bool:
    return not policy.open_access and not policy.public_reads


def install_dashboard(app: FastAPI) -> None:
    app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="dashboard-static")
