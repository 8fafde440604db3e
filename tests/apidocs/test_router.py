"""The documentation pages work offline, follow PUBLIC_READS, and can be turned off."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin

import pytest

from roadhazard.access.service import digest
from tests.harness import make_settings, running_app

READER_KEY = "reporter-docs-0123456789"
KEYS = f"reporter:sha256={digest(READER_KEY)}"
ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def _references(html: str) -> list[str]:
    return re.findall(r'(?:src|href|spec-url)="([^"]+)"', html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_a_docs_page_loads_only_same_origin_assets(raw_model: Path, page: str) -> None:
    async with running_app(make_settings(model_path=raw_model), wait_loaded=False) as (client, _):
        html = await client.get(page)
        references = _references(html.text)
        fetched = {
            ref: await client.get(urljoin(f"{client.base_url}{page}", ref)) for ref in references
        }

    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    policy = html.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy
    assert "<script>" not in html.text  # no inline script, so none needs allowing
    assert references
    for reference, answer in fetched.items():
        assert "//" not in reference, reference  # relative: this origin, any path prefix
        assert answer.status_code == 200, reference
        suffix = Path(reference).suffix
        if suffix in ASSET_TYPES:
            assert answer.headers["content-type"].startswith(ASSET_TYPES[suffix])


async def test_swagger_ui_is_started_on_this_services_document(raw_model: Path) -> None:
    async with running_app(make_settings(model_path=raw_model), wait_loaded=False) as (client, _):
        script = await client.get("/docs/assets/swagger-init.js")
        document = await client.get("/openapi.json")
        licence = await client.get("/docs/assets/swagger-ui/LICENSE")

    assert 'url: "openapi.json"' in script.text
    assert document.json()["info"]["title"] == "Roadhazard"
    assert "Apache License" in licence.text


async def test_without_public_reads_the_docs_need_a_key(raw_model: Path) -> None:
    settings = make_settings(model_path=raw_model, api_keys=KEYS, public_reads=False)
    async with running_app(settings, wait_loaded=False) as (client, _):
        anonymous = [(await client.get(path)).status_code for path in _DOC_PATHS]
        with_key = [
            (await client.get(path, headers={"X-API-Key": READER_KEY})).status_code
            for path in _DOC_PATHS
        ]

    assert anonymous == [401, 401, 401]
    assert with_key == [200, 200, 200]


async def test_docs_enabled_false_removes_the_pages_and_assets(raw_model: Path) -> None:
    settings = make_settings(model_path=raw_model, docs_enabled=False)
    async with running_app(settings, wait_loaded=False) as (client, _):
        codes = [
            (await client.get(path)).status_code
            for path in (*_DOC_PATHS, "/docs/assets/swagger-init.js")
        ]
        health = await client.get("/health")

    assert codes == [404, 404, 404, 404]
    assert health.status_code == 200


_DOC_PATHS = ("/docs", "/redoc", "/openapi.json")
