"""Image storage for reports, and annotated renders.

Every file operation and every Pillow call runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import structlog
from PIL import ImageOps, UnidentifiedImageError

from roadhazard.checks import CheckResult, CheckStatus
from roadhazard.errors import ContentTooLarge, UnsupportedMediaType
from roadhazard.ids import ULID_PATTERN, is_ulid
from roadhazard.media.annotate import Annotation, draw_annotations
from roadhazard.pixels import TooManyPixels, opened_image

log = structlog.get_logger(__name__)

ImageKind = Literal["original", "annotated"]
IMAGE_KINDS: tuple[ImageKind, ...] = ("original", "annotated")

_KEY = re.compile(rf"{ULID_PATTERN}\.(original|annotated)")

# Magic numbers of the formats detection accepts; content types are read from the bytes, so a
# stored image needs no metadata beside it.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


@dataclass(frozen=True)
class StoredImage:
    data: bytes
    content_type: str


class ImageStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> StoredImage: ...

    async def get(self, key: str) -> StoredImage | None: ...

    async def delete(self, key: str) -> None: ...

    def public_url(self, key: str, *, thumbnail: bool = False) -> str | None:
        """Where clients can fetch the image directly, or None when only we can serve it."""
        ...

    async def readiness_check(self) -> CheckResult: ...

    async def aclose(self) -> None: ...


def image_key(report_id: str, kind: ImageKind) -> str:
    """The only way to name an image: a validated report id and a fixed kind."""
    if not is_ulid(report_id) or kind not in IMAGE_KINDS:
        raise ValueError(f"no image key for report {report_id!r} and kind {kind!r}")
    return f"{report_id}.{kind}"


def sniff_content_type(data: bytes) -> str | None:
    for signature, content_type in _SIGNATURES:
        if data.startswith(signature):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class LocalImageStore:
    """Files under `root`, one per key, each written whole or not at all."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        # Keys come from image_key(); refusing anything else keeps every path inside root.
        if not _KEY.fullmatch(key):
            raise ValueError(f"{key!r} is not an image key")
        return self.root / key

    async def put(self, key: str, data: bytes, content_type: str) -> StoredImage:
        path = self._path(key)
        await asyncio.to_thread(self._write, path, data)
        return StoredImage(data, content_type)

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A temporary file in the same directory, so os.replace is an atomic rename: a reader
        # sees the old image or the new one, never a torn write.
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    async def get(self, key: str) -> StoredImage | None:
        data = await asyncio.to_thread(self._read, self._path(key))
        if data is None:
            return None
        return StoredImage(data, sniff_content_type(data) or "application/octet-stream")

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    def public_url(self, key: str, *, thumbnail: bool = False) -> str | None:
        return None

    async def readiness_check(self) -> CheckResult:
        writable = await asyncio.to_thread(self._writable)
        if writable:
            return CheckResult(status=CheckStatus.HEALTHY, detail="local image directory")
        return CheckResult(
            status=CheckStatus.UNHEALTHY, detail="the local image directory is not writable"
        )

    def _writable(self) -> bool:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError:
            return False
        return os.access(self.root, os.W_OK)

    async def aclose(self) -> None:
        return None


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int
    height: int


async def inspect_image(data: bytes, max_pixels: int) -> ImageInfo:
    """Checks that `data` is an image we accept, reading only its header; raises 415 or 413."""
    content_type = sniff_content_type(data)
    if content_type is None:
        raise UnsupportedMediaType("Not a supported image; send JPEG, PNG, WEBP, BMP or TIFF.")
    width, height = await asyncio.to_thread(_dimensions, data, max_pixels)
    return ImageInfo(content_type, width, height)


def _dimensions(data: bytes, max_pixels: int) -> tuple[int, int]:
    try:
        with opened_image(data, max_pixels) as image:
            return image.size
    except TooManyPixels as exc:
        raise ContentTooLarge(f"{str(exc).capitalize()}.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise UnsupportedMediaType("The image is truncated or corrupt.") from exc


async def render_annotated(
    data: bytes, annotations: Sequence[Annotation], max_pixels: int
) -> bytes | None:
    """A JPEG of the image with its boxes drawn, or None (logged) when it cannot be decoded."""
    return await asyncio.to_thread(_render, data, tuple(annotations), max_pixels)


def _render(data: bytes, annotations: tuple[Annotation, ...], max_pixels: int) -> bytes | None:
    try:
        with opened_image(data, max_pixels) as image:
            # Boxes are in upright pixels, as detection saw the image after EXIF rotation.
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            canvas = draw_annotations(image, annotations)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        log.warning("annotate_skipped", reason=type(exc).__name__)
        return None
    except TooManyPixels:
        log.warning("annotate_skipped", reason="too_many_pixels")
        return None
    out = io.BytesIO()
    canvas.save(out, format="JPEG", quality=90)
    return out.getvalue()
