"""/openapi.json, /docs (Swagger UI) and /redoc, guarded like every other read.

FastAPI's own pages load their scripts from a CDN and start them with inline scripts; these
load everything from `/docs/assets/` and run no inline script, so they work offline and under
a strict content security policy. URLs in the pages are relative, so they also work behind a
proxy that serves the API under a path prefix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from roadhazard.access.dependencies import ReaderDep
from roadhazard.ratelimit import rate_limit

ASSETS_DIR = Path(__file__).parent / "assets"
ASSETS_PATH = "/docs/assets"

# The pages need their own scripts and styles (Swagger UI and ReDoc set inline styles), data:
# images from their CSS, and fetches of the API itself; still nothing from elsewhere, and no
# framing.
_DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
# ReDoc compiles JSON schemas into functions (its bundled ajv uses `new Function`) and runs
# its search index in a worker started from a blob: URL.
_REDOC_POLICY = (
    _DOCS_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-eval'")
    + "; worker-src 'self' blob:"
)

_SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - Swagger UI</title>
<link rel="stylesheet" href="docs/assets/swagger-ui/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/assets/swagger-ui/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui/swagger-ui-bundle.js"></script>
<script src="docs/assets/swagger-init.js"></script>
</body>
</html>
"""

_REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - ReDoc</title>
<link rel="icon" type="image/png" href="docs/assets/swagger-ui/favicon-32x32.png">
</head>
<body>
<redoc spec-url="openapi.json"></redoc>
<script src="docs/assets/redoc/redoc.standalone.js"></script>
</body>
</html>
"""

router = APIRouter(
    include_in_schema=False,
    dependencies=[Depends(rate_limit("reads"))],
)


@router.get("/openapi.json")
async def openapi_document(request: Request, _: ReaderDep) -> JSONResponse:
    document: dict[str, Any] = request.app.openapi()
    return JSONResponse(document)


@router.get("/docs")
async def swagger_ui(request: Request, _: ReaderDep) -> HTMLResponse:
    return _page(_SWAGGER_PAGE, request, _DOCS_POLICY)


@router.get("/redoc")
async def redoc(request: Request, _: ReaderDep) -> HTMLResponse:
    return _page(_REDOC_PAGE, request, _REDOC_POLICY)


def _page(template: str, request: Request, policy: str) -> HTMLResponse:
    title: str = request.app.title
    return HTMLResponse(template.format(title=title), headers={"Content-Security-Policy": policy})


def install_docs(app: FastAPI) -> None:
    """Adds the pages and their assets. The assets are public: they are the published
    Swagger UI and ReDoc files, and a browser cannot send an API key for them."""
    app.include_router(router)
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
