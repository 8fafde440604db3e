"""Annotated copies of images: boxes and labels drawn with Pillow.

CPU work: the service calls it from a worker thread, the CLI directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from io import BytesIO

import structlog
from PIL import Image, ImageDraw, ImageFont

log = structlog.get_logger(__name__)

FONT_RESOURCE = "fonts/DejaVuSans.ttf"

LabelFont = ImageFont.FreeTypeFont | ImageFont.ImageFont

# Distinct, colour-blind-friendly hues (Okabe-Ito), cycled by class id.
_PALETTE = (
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
)


@dataclass(frozen=True)
class Annotation:
    class_id: int
    label: str
    confidence: float
    x1: float
    y1: float
    x2: float
    y2: float


def draw_annotations(image: Image.Image, annotations: Sequence[Annotation]) -> Image.Image:
    """Returns an RGB copy of `image` with each annotation's box and label drawn on it."""
    canvas = image.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    scale = max(canvas.size) / 640
    width = max(2, round(2 * scale))
    font = label_font(max(12, round(14 * scale)))
    for item in annotations:
        colour = _PALETTE[item.class_id % len(_PALETTE)]
        draw.rectangle((item.x1, item.y1, item.x2, item.y2), outline=colour, width=width)
        text = f"{item.label} {item.confidence:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        text_w, text_h = right - left, bottom - top
        label_top = item.y1 - text_h - 2 * width if item.y1 >= text_h + 2 * width else item.y1
        draw.rectangle(
            (item.x1, label_top, item.x1 + text_w + 2 * width, label_top + text_h + 2 * width),
            fill=colour,
        )
        draw.text((item.x1 + width, label_top + width - top), text, fill=(0, 0, 0), font=font)
    return canvas


@cache
def _font_bytes(resource: str) -> bytes | None:
    try:
        return resources.files("roadhazard").joinpath(resource).read_bytes()
    except OSError as exc:
        log.warning("label_font_missing", font=resource, error=type(exc).__name__)
        return None


@cache
def label_font(size: int, resource: str = FONT_RESOURCE) -> LabelFont:
    """The shipped DejaVu Sans at `size`, so labels look the same on every host; Pillow's
    built-in font, with a warning logged once, when the packaged file is missing."""
    data = _font_bytes(resource)
    if data is None:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(BytesIO(data), size=size)
