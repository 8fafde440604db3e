"""Opening untrusted images with Pillow, refusing decompression bombs the same way everywhere.

Detection, manual reports and annotated renders all open client bytes; Pillow raises
`DecompressionBombError` (beyond twice its own pixel limit) from `Image.open` and warns below
that, so each caller used to need the same guard, and one without it answered 500.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image


class TooManyPixels(Exception):
    """The image is larger, in pixels, than the limit; the message says by how much."""


@contextmanager
def opened_image(
    data: bytes, max_pixels: int, formats: tuple[str, ...] | None = None
) -> Iterator[Image.Image]:
    """`Image.open` (only the header is read) within `max_pixels`, else `TooManyPixels`, also
    for Pillow's own bomb error and warning, whether raised opening or decoding the image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=formats) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise TooManyPixels(
                        f"the image has {width}x{height} pixels; the limit is {max_pixels} pixels"
                    )
                yield image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise TooManyPixels(
            f"the image has too many pixels; the limit is {max_pixels} pixels"
        ) from None
