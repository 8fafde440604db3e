"""JSON image bodies: small ones are read on the loop, large ones in a worker thread, and a
body of millions of values is refused before the parser, which holds the GIL, sees it."""

from __future__ import annotations

import base64
import io
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from roadhazard.uploads import body as uploads
from tests.harness import make_settings, running_app


@pytest.fixture
def parsing_threads(monkeypatch: pytest.MonkeyPatch) -> list[threading.Thread]:
    """The thread each JSON body is parsed on, in order."""
    seen: list[threading.Thread] = []
    parse = uploads.parse_json_body

    def recorded(raw: bytes) -> object:
        seen.append(threading.current_thread())
        return parse(raw)

    monkeypatch.setattr(uploads, "parse_json_body", recorded)
    return seen


def noisy_png(width: int, height: int) -> bytes:
    """Noise does not compress: a PNG of about width * height * 3 bytes."""
    pixels = np.random.default_rng(7).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


async def test_small_bodies_are_parsed_inline_and_large_ones_in_a_thread(
    raw_model: Path, parsing_threads: list[threading.Thread]
) -> None:
    small = base64.b64encode(noisy_png(16, 16)).decode()
    large = base64.b64encode(noisy_png(400, 400)).decode()
    assert len(small) < uploads.INLINE_JSON_BYTES < len(large)

    async with running_app(make_settings(model_path=raw_model)) as (client, _):
        answers = [await client.post("/v1/detect", json={"image": i}) for i in (small, large)]

    assert [answer.status_code for answer in answers] == [200, 200]
    assert parsing_threads[0] is threading.main_thread()
    assert parsing_threads[1] is not threading.main_thread()


async def test_a_body_of_millions_of_values_is_refused_before_parsing(
    raw_model: Path, parsing_threads: list[threading.Thread]
) -> None:
    # 4 MB of zeros would take the parser most of a second, GIL held, whatever the thread.
    zeros = b",".join([b"0"] * 2_000_000)
    body = b'{"image": "AAAA", "pad": [' + zeros + b"]}"

    async with running_app(make_settings(model_path=raw_model)) as (client, _):
        refused = await client.post(
            "/v1/detect", content=body, headers={"content-type": "application/json"}
        )
        health = await client.get("/health")

    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert f"more than {uploads.MAX_JSON_TOKENS} values" in refused.json()["detail"]
    assert parsing_threads == []
    assert health.status_code == 200


async def test_a_batch_with_its_fields_stays_within_the_value_count(raw_model: Path) -> None:
    image = base64.b64encode(noisy_png(16, 16)).decode()
    body = {"images": [f"data:image/png;base64,{image}"] * 16, "conf": 0.3, "classes": [0, 1]}

    async with running_app(make_settings(model_path=raw_model)) as (client, _):
        answer = await client.post("/v1/detect/batch", json=body)

    assert answer.status_code == 200, answer.text
    assert len(answer.json()["results"]) == 16
