"""The local image store, image keys, annotated renders and the label font."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageFont
from structlog.testing import capture_logs

from roadhazard.errors import ContentTooLarge, UnsupportedMediaType
from roadhazard.media import annotate
from roadhazard.media import service as media_service
from roadhazard.media.annotate import Annotation, label_font
from roadhazard.media.service import (
    LocalImageStore,
    image_key,
    inspect_image,
    render_annotated,
    sniff_content_type,
)
from roadhazard.reports.service import new_report_id
from tests.factories import jpeg, png


@pytest.fixture(autouse=True)
def _loggers_captured(uncached_loggers: Callable[..., None]) -> None:
    uncached_loggers(annotate, media_service)


BOX = Annotation(class_id=3, label="Pothole", confidence=0.87, x1=5, y1=20, x2=50, y2=40)


async def test_put_get_delete_round_trip(tmp_path: Path) -> None:
    store = LocalImageStore(tmp_path / "images")
    key = image_key(new_report_id(), "original")

    await store.put(key, jpeg(), "image/jpeg")
    await store.put(key, png(), "image/png")
    stored = await store.get(key)

    assert stored is not None
    assert (stored.data, stored.content_type) == (png(), "image/png")
    # Only the final file remains: each write went to a temporary file, then was renamed.
    assert [p.name for p in (tmp_path / "images").iterdir()] == [key]
    await store.delete(key)
    await store.delete(key)
    assert await store.get(key) is None


@pytest.mark.parametrize(
    ("report_id", "kind"),
    [("../etc/passwd", "original"), ("01ARZ3NDEKTSV4RRFFQ69G5FAV/x", "original"), ("", "original")],
)
def test_keys_only_come_from_report_ids_and_fixed_kinds(report_id: str, kind: str) -> None:
    with pytest.raises(ValueError, match="no image key"):
        image_key(report_id, kind)  # type: ignore[arg-type]


async def test_the_store_refuses_anything_but_an_image_key(tmp_path: Path) -> None:
    store = LocalImageStore(tmp_path)
    for bad in ("../x.original", "01ARZ3NDEKTSV4RRFFQ69G5FAV.thumbnail", "a/b"):
        with pytest.raises(ValueError, match="not an image key"):
            await store.get(bad)


def test_content_types_are_read_from_the_bytes() -> None:
    webp = io.BytesIO()
    Image.new("RGB", (4, 4)).save(webp, format="WEBP")
    assert sniff_content_type(jpeg()) == "image/jpeg"
    assert sniff_content_type(png()) == "image/png"
    assert sniff_content_type(webp.getvalue()) == "image/webp"
    assert sniff_content_type(b"%PDF-1.7") is None


async def test_inspect_image_refuses_non_images_and_bombs() -> None:
    assert (await inspect_image(png(), 10_000)).content_type == "image/png"
    with pytest.raises(UnsupportedMediaType):
        await inspect_image(b"hello", 10_000)
    with pytest.raises(UnsupportedMediaType):
        await inspect_image(jpeg()[:10], 10_000)
    with pytest.raises(ContentTooLarge):
        await inspect_image(jpeg(200, 200), 10_000)


async def test_render_draws_the_box_and_keeps_the_size() -> None:
    rendered = await render_annotated(jpeg(64, 48, (0, 0, 0)), [BOX], 10_000)

    assert rendered is not None
    with Image.open(io.BytesIO(rendered)) as drawn:
        assert drawn.format == "JPEG"
        assert drawn.size == (64, 48)
        assert drawn.convert("L").getextrema()[1] > 100


async def test_render_respects_the_exif_orientation() -> None:
    # Stored 64 x 48, white on the left; EXIF orientation 6 says "turn 90 degrees clockwise to
    # view", so upright it is 48 x 64, white on top. Boxes are in upright pixels.
    stored = Image.new("RGB", (64, 48), (0, 0, 0))
    stored.paste((255, 255, 255), (0, 0, 32, 48))
    exif = Image.Exif()
    exif[0x0112] = 6
    data = io.BytesIO()
    stored.save(data, format="JPEG", quality=95, exif=exif.tobytes())
    box = Annotation(class_id=3, label="Pothole", confidence=0.9, x1=30, y1=40, x2=46, y2=62)

    rendered = await render_annotated(data.getvalue(), [box], 10_000)

    assert rendered is not None
    with Image.open(io.BytesIO(rendered)) as drawn:
        upright = drawn.convert("L")
    assert upright.size == (48, 64)
    assert upright.getpixel((10, 10)) > 200  # top: the stored left side
    assert upright.getpixel((10, 54)) < 50  # bottom: the stored right side


async def test_render_of_a_broken_image_is_skipped_and_logged() -> None:
    with capture_logs() as logs:
        assert await render_annotated(b"\xff\xd8\xff broken", [BOX], 10_000) is None
    assert logs[0]["event"] == "annotate_skipped"


def test_labels_use_the_shipped_font() -> None:
    font = label_font(14)
    assert isinstance(font, ImageFont.FreeTypeFont)
    assert font.getname()[0] == "DejaVu Sans"


def test_a_missing_font_falls_back_with_a_warning() -> None:
    with capture_logs() as logs:
        font = label_font(14, "fonts/NoSuchFont.ttf")
    assert font is not None
    assert [entry["event"] for entry in logs] == ["label_font_missing"]
    assert logs[0]["log_level"] == "warning"
