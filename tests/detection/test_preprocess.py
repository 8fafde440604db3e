"""Letterbox geometry and the image decoder's guards."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from roadhazard.detection.preprocess import (
    LETTERBOX_FILL,
    ImageDecodeError,
    decode_image,
    letterbox,
    to_tensor,
)
from tests.factories import encode_image


def test_letterbox_centres_the_image_with_grey_padding() -> None:
    image = np.zeros((480, 640, 3), dtype=np.uint8)

    canvas, placement = letterbox(image, (320, 320))

    assert canvas.shape == (320, 320, 3)
    assert placement.gain == 0.5
    assert (placement.pad_left, placement.pad_top) == (0, 40)
    # Ultralytics pads with grey 114 in every channel, and models are trained on it: the value
    # is written out, not read from the module under test.
    assert (canvas[:40] == 114).all()
    assert (canvas[280:] == 114).all()
    assert (canvas[40:280] == 0).all()


def test_letterbox_pads_the_sides_of_a_tall_image_with_grey_114() -> None:
    canvas, placement = letterbox(np.full((640, 480, 3), 255, dtype=np.uint8), (320, 320))

    assert (placement.pad_left, placement.pad_top) == (40, 0)
    assert (canvas[:, :40] == 114).all()
    assert (canvas[:, 280:] == 114).all()
    assert (canvas[:, 40:280] == 255).all()


def test_letterbox_puts_an_odd_padding_pixel_at_the_bottom() -> None:
    # 640x438 scales to 320x219; 101 rows of padding split 50 top, 51 bottom.
    canvas, _ = letterbox(np.zeros((438, 640, 3), dtype=np.uint8), (320, 320))

    rows_with_content = np.flatnonzero((canvas != LETTERBOX_FILL).any(axis=(1, 2)))
    assert (rows_with_content.min(), rows_with_content.max()) == (50, 268)


def test_letterbox_upscales_small_images() -> None:
    canvas, placement = letterbox(np.zeros((100, 50, 3), dtype=np.uint8), (320, 320))

    assert placement.gain == 3.2
    assert canvas.shape == (320, 320, 3)


def test_to_tensor_is_nchw_scaled_to_unit_range() -> None:
    image = np.full((2, 3, 3), 255, dtype=np.uint8)
    image[..., 1] = 0

    tensor = to_tensor(image, np.float32)

    assert tensor.shape == (1, 3, 2, 3)
    assert tensor.dtype == np.float32
    assert tensor[0, 0].max() == 1.0
    assert tensor[0, 1].max() == 0.0


def test_decode_converts_to_rgb() -> None:
    grey = io.BytesIO()
    Image.new("L", (8, 4), color=200).save(grey, format="PNG")

    decoded = decode_image(grey.getvalue(), max_pixels=1000)

    assert decoded.shape == (4, 8, 3)
    assert (decoded == 200).all()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"plain text, not an image", "not_image"),
        (encode_image((64, 64), "JPEG")[:200], "corrupt"),
    ],
)
def test_decode_refuses_bad_bytes_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(data, max_pixels=10**6)
    assert caught.value.reason == reason


def test_decode_refuses_formats_outside_the_allow_list() -> None:
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, format="GIF")

    with pytest.raises(ImageDecodeError) as caught:
        decode_image(gif.getvalue(), max_pixels=10**6)
    assert caught.value.reason == "not_image"


def test_decode_refuses_too_many_pixels_before_decoding() -> None:
    with pytest.raises(ImageDecodeError) as caught:
        decode_image(encode_image((200, 100), "PNG"), max_pixels=19_999)
    assert caught.value.reason == "too_many_pixels"
