"""Image decoding and the letterbox Ultralytics applies before inference.

Decoding guards against what clients really send: empty bodies, non-images, truncated files,
formats we do not accept and decompression bombs. Resizing uses OpenCV's bilinear filter because
that is what Ultralytics uses; Pillow's antialiased resize would move scores by more than 1e-3.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
from PIL import ImageOps, UnidentifiedImageError

from roadhazard.pixels import TooManyPixels, opened_image

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF")
LETTERBOX_FILL = 114


class ImageDecodeError(Exception):
    """The bytes are not a usable image; `reason` says which way, for the HTTP status."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # "empty" | "not_image" | "corrupt" | "too_many_pixels"


@dataclass(frozen=True)
class Letterbox:
    """How to map boxes on the model canvas back to the original image."""

    gain: float
    pad_left: int
    pad_top: int
    width: int
    height: int


def decode_image(data: bytes, max_pixels: int) -> npt.NDArray[np.uint8]:
    """Bytes to an upright RGB uint8 array (EXIF orientation applied)."""
    if not data:
        raise ImageDecodeError("empty", "the image is empty")
    try:
        with opened_image(data, max_pixels, ACCEPTED_FORMATS) as image:
            image.load()
            # In place: a copy per image only when the EXIF orientation asks for a rotation.
            ImageOps.exif_transpose(image, in_place=True)
            # Inside the `with`: a closed image has no pixels left to convert.
            rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"), np.uint8)
    except TooManyPixels as exc:
        raise ImageDecodeError("too_many_pixels", str(exc)) from None
    except UnidentifiedImageError:
        raise ImageDecodeError(
            "not_image", f"not a supported image; send one of {', '.join(ACCEPTED_FORMATS)}"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageDecodeError("corrupt", "the image is truncated or corrupt") from exc
    return rgb


def letterbox(
    image: npt.NDArray[np.uint8], size: tuple[int, int]
) -> tuple[npt.NDArray[np.uint8], Letterbox]:
    """Resizes keeping the aspect ratio and pads to `size` (h, w), centred, with grey 114."""
    height, width = image.shape[:2]
    target_h, target_w = size
    gain = min(target_h / height, target_w / width)
    new_w, new_h = round(width * gain), round(height * gain)
    if (new_w, new_h) != (width, height):
        image = np.asarray(
            cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR), dtype=np.uint8
        )
    half_dw, half_dh = (target_w - new_w) / 2, (target_h - new_h) / 2
    # Ultralytics' -0.1/+0.1 rounding puts an odd padding pixel at the bottom/right.
    top, bottom = round(half_dh - 0.1), round(half_dh + 0.1)
    left, right = round(half_dw - 0.1), round(half_dw + 0.1)
    padded = cv2.copyMakeBorder(
        image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(LETTERBOX_FILL,) * 3
    )
    # Boxes are mapped back with the unrounded scaled size, as Ultralytics' scale_boxes does; this
    # can differ by a pixel from the placement above, and parity with Ultralytics needs it.
    unmap_left = round((target_w - width * gain) / 2 - 0.1)
    unmap_top = round((target_h - height * gain) / 2 - 0.1)
    placement = Letterbox(gain, unmap_left, unmap_top, width, height)
    return np.asarray(padded, dtype=np.uint8), placement


def to_tensor(image: npt.NDArray[np.uint8], dtype: npt.DTypeLike) -> npt.NDArray[np.generic]:
    """HWC uint8 RGB to NCHW in [0, 1], in the model's input dtype."""
    chw = np.ascontiguousarray(image.transpose(2, 0, 1)[np.newaxis])
    return (chw.astype(np.float32) / np.float32(255.0)).astype(dtype, copy=False)
