"""A fake Cloudinary: the Upload API's upload and destroy, the Admin API's ping, and delivery URLs.

Serve it over real TCP with `FakeCloudinary.serving()` (or tests.fakes.server.serving(fake.app))
and point the store's api_url and delivery_url at the base URL it yields.

It checks requests the way Cloudinary documents them, with code of its own rather than the
client's, so a mistake in the client's signing cannot hide behind the same mistake here: the
signature is the SHA-1 or SHA-256 (told apart by length) of every parameter sent except file,
cloud_name, resource_type, api_key and the signature itself, sorted by name, joined as
name=value with &, with the API secret appended. A timestamp over an hour old, an unknown API
key or a missing parameter is refused with Cloudinary's error shape, {"error": {"message": ...}}.

Images are kept in memory; every handler runs on the fake's own thread, and the tests read
from theirs, so the store is guarded by a lock that is never held across an await.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import io
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from PIL import Image, ImageOps, UnidentifiedImageError
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from roadhazard.credentials import CloudinaryCredentials
from tests.fakes.server import FaultInjector, serving

SIGNATURE_MAX_AGE_S = 3600
_UNSIGNED = frozenset({"file", "cloud_name", "resource_type", "api_key", "signature"})
_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "BMP": "bmp", "TIFF": "tiff", "GIF": "gif"}
_MEDIA_TYPES = {"jpg": "image/jpeg", "tiff": "image/tiff"}
_VERSION = re.compile(r"v\d+")
_TRANSFORMATION = re.compile(r"[a-z]{1,2}_[A-Za-z0-9_:.]+(,[a-z]{1,2}_[A-Za-z0-9_:.]+)*")
_CROPS = frozenset({"fill", "thumb", "scale", "fit", "limit"})

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Asset:
    data: bytes
    format: str
    width: int
    height: int
    version: int
    created_at: str

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES.get(self.format, f"image/{self.format}")


class FakeCloudinary:
    """One Cloudinary account. `calls` counts requests per endpoint ("upload", "destroy",
    "ping", "delivery"), faulted or not; `received` keeps each signed request's form fields."""

    def __init__(
        self,
        cloud_name: str = "roadhazard-test",
        api_key: str = "614285937261548",
        api_secret: str = "fake-cloudinary-secret-3f9c2a",
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cloud_name = cloud_name
        self.api_key = api_key
        self.api_secret = api_secret
        self.clock = clock
        self.faults = FaultInjector()
        self.calls: Counter[str] = Counter()
        self.received: list[tuple[str, dict[str, str]]] = []
        self._assets: dict[str, Asset] = {}
        self._lock = threading.Lock()
        api = f"/v1_1/{cloud_name}"
        self.app = Starlette(
            routes=[
                Route(
                    f"{api}/image/upload", self._endpoint("upload", self._upload), methods=["POST"]
                ),
                Route(
                    f"{api}/image/destroy",
                    self._endpoint("destroy", self._destroy),
                    methods=["POST"],
                ),
                Route(f"{api}/ping", self._endpoint("ping", self._ping), methods=["GET"]),
                Route(
                    f"/{cloud_name}/image/upload/{{path:path}}",
                    self._endpoint("delivery", self._deliver),
                    methods=["GET"],
                ),
            ]
        )

    # What tests and the lead's integration tests use.

    @property
    def cloudinary_url(self) -> str:
        """The `cloudinary://key:secret@cloud` URL of this account (ROADHAZARD_CLOUDINARY_URL)."""
        return f"cloudinary://{self.api_key}:{self.api_secret}@{self.cloud_name}"

    @property
    def credentials(self) -> CloudinaryCredentials:
        return CloudinaryCredentials(self.cloud_name, self.api_key, SecretStr(self.api_secret))

    @property
    def uploads(self) -> dict[str, bytes]:
        """A snapshot: public id -> the bytes stored under it."""
        with self._lock:
            return {public_id: asset.data for public_id, asset in self._assets.items()}

    def asset(self, public_id: str) -> Asset | None:
        with self._lock:
            return self._assets.get(public_id)

    def seed(self, public_id: str, data: bytes) -> Asset:
        """Stores an image as an upload would, without a request."""
        asset = self._new_asset(public_id, data, _inspect(data))
        with self._lock:
            self._assets[public_id] = asset
        return asset

    def reset(self) -> None:
        self.faults.clear()
        with self._lock:
            self._assets.clear()
            self.calls.clear()
            self.received.clear()

    @contextmanager
    def serving(self) -> Iterator[str]:
        """Serves the fake on a free port; yields the base URL for api_url and delivery_url."""
        with serving(self.app) as base_url:
            yield base_url

    # Plumbing shared by every endpoint.

    def _endpoint(self, name: str, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            with self._lock:
                self.calls[name] += 1
            if request.method == "POST":
                # Read before any fault, so `received` holds what every attempt sent; Starlette
                # keeps the parsed form for the handler.
                fields, _ = await _form(request)
                with self._lock:
                    self.received.append((name, fields))
            faulted = await self.faults.apply()
            if faulted is not None:
                return faulted
            return await handler(request)

        return endpoint

    def _authentication_error(self, fields: dict[str, str]) -> Response | None:
        api_key = fields.get("api_key")
        if not api_key:
            return _error(401, "Must supply api_key")
        if api_key != self.api_key:
            return _error(401, f"Unknown API key {api_key}")
        for required in ("timestamp", "signature"):
            if not fields.get(required):
                return _error(400, f"Missing required parameter - {required}")
        try:
            timestamp = int(fields["timestamp"])
        except ValueError:
            return _error(400, "Invalid timestamp")
        if self.clock() - timestamp > SIGNATURE_MAX_AGE_S:
            return _error(
                400, f"Stale request - reported time is {timestamp} which is more than 1 hour ago"
            )
        to_sign = "&".join(
            f"{name}={fields[name]}" for name in sorted(fields) if name not in _UNSIGNED
        )
        given = fields["signature"]
        digest = hashlib.sha256 if len(given) == 64 else hashlib.sha1
        expected = digest((to_sign + self.api_secret).encode()).hexdigest()
        if not hmac.compare_digest(given.lower(), expected):
            return _error(401, f"Invalid Signature {given}. String to sign - '{to_sign}'.")
        return None

    def _new_asset(self, public_id: str, data: bytes, info: tuple[str, int, int]) -> Asset:
        with self._lock:
            previous = self._assets.get(public_id)
        version = max(int(self.clock()), previous.version + 1 if previous else 0)
        created_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Asset(data, *info, version=version, created_at=created_at)

    # The endpoints.

    async def _upload(self, request: Request) -> Response:
        fields, upload = await _form(request)
        if upload is None:
            return _error(400, "Missing required parameter - file")
        refused = self._authentication_error(fields)
        if refused is not None:
            return refused
        data = await upload.read()
        try:
            info = await asyncio.to_thread(_inspect, data)
        except ValueError:
            return _error(400, "Invalid image file")
        public_id = fields.get("public_id") or secrets.token_hex(10)
        with self._lock:
            existing = self._assets.get(public_id)
        if existing is not None and fields.get("overwrite", "true") == "false":
            return JSONResponse({**self._describe(request, public_id, existing), "existing": True})
        asset = self._new_asset(public_id, data, info)
        with self._lock:
            self._assets[public_id] = asset
        body = self._describe(request, public_id, asset)
        body["original_filename"] = (upload.filename or "file").rsplit(".", 1)[0]
        body["overwritten"] = existing is not None
        return JSONResponse(body)

    def _describe(self, request: Request, public_id: str, asset: Asset) -> dict[str, object]:
        """The upload response, with the fields Cloudinary documents."""
        base = str(request.base_url).rstrip("/")
        url = f"{base}/{self.cloud_name}/image/upload/v{asset.version}/{public_id}.{asset.format}"
        # Cloudinary signs its answer with the API secret, so a client may check who sent it.
        signed = f"public_id={public_id}&version={asset.version}{self.api_secret}"
        return {
            "asset_id": hashlib.md5(public_id.encode()).hexdigest(),
            "public_id": public_id,
            "version": asset.version,
            "version_id": hashlib.md5(f"{public_id}{asset.version}".encode()).hexdigest(),
            "signature": hashlib.sha1(signed.encode()).hexdigest(),
            "width": asset.width,
            "height": asset.height,
            "format": asset.format,
            "resource_type": "image",
            "created_at": asset.created_at,
            "tags": [],
            "bytes": len(asset.data),
            "type": "upload",
            "etag": hashlib.md5(asset.data).hexdigest(),
            "placeholder": False,
            "url": url,
            "secure_url": url,
            "api_key": self.api_key,
        }

    async def _destroy(self, request: Request) -> Response:
        fields, _ = await _form(request)
        refused = self._authentication_error(fields)
        if refused is not None:
            return refused
        public_id = fields.get("public_id")
        if not public_id:
            return _error(400, "Missing required parameter - public_id")
        with self._lock:
            removed = self._assets.pop(public_id, None)
        return JSONResponse({"result": "ok" if removed else "not found"})

    async def _ping(self, request: Request) -> Response:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        if scheme.lower() != "basic" or not decoded:
            return _error(401, "Must supply api_key")
        api_key, _, api_secret = decoded.partition(":")
        if api_key != self.api_key:
            return _error(401, f"Unknown API key {api_key}")
        if not hmac.compare_digest(api_secret, self.api_secret):
            return _error(401, "api_secret mismatch")
        return JSONResponse({"status": "ok"})

    async def _deliver(self, request: Request) -> Response:
        steps, public_id = _parse_delivery_path(request.path_params["path"])
        asset = self.asset(public_id)
        if asset is None:
            stem, dot, _ = public_id.rpartition(".")
            # A trailing .jpg asks for a format; the fake serves the stored one.
            asset = self.asset(stem) if dot else None
        if asset is None:
            return Response(
                status_code=404, headers={"x-cld-error": f"Resource not found - {public_id}"}
            )
        if not steps:
            return Response(asset.data, media_type=asset.media_type)
        try:
            data = await asyncio.to_thread(_transform, asset.data, steps)
        except ValueError as exc:
            return Response(status_code=400, headers={"x-cld-error": str(exc)})
        return Response(data, media_type=asset.media_type)


async def _form(request: Request) -> tuple[dict[str, str], UploadFile | None]:
    """The form's text fields, and its `file` when that is an upload rather than a URL."""
    form = await request.form()
    fields = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    upload = form.get("file")
    return fields, upload if isinstance(upload, UploadFile) else None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message}}, status_code=status)


def _inspect(data: bytes) -> tuple[str, int, int]:
    """(Cloudinary's format name, width, height); ValueError when it is not an image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = _FORMATS.get(image.format or "")
            width, height = image.size
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError("not an image") from exc
    if fmt is None:
        raise ValueError("not an image format Cloudinary would take")
    return fmt, width, height


def _parse_delivery_path(path: str) -> tuple[list[dict[str, str]], str]:
    """(transformation steps, public id) from `[<t>/...][v<version>/]<public_id>`."""
    segments = path.split("/")
    version_at = next((i for i, s in enumerate(segments) if _VERSION.fullmatch(s)), None)
    if version_at is not None:
        chained, rest = segments[:version_at], segments[version_at + 1 :]
    else:
        # No version: leading segments that read as transformations are transformations.
        count = 0
        while count < len(segments) - 1 and _TRANSFORMATION.fullmatch(segments[count]):
            count += 1
        chained, rest = segments[:count], segments[count:]
    return [_step(segment) for segment in chained], "/".join(rest)


def _step(segment: str) -> dict[str, str]:
    """`c_fill,w_320` -> {"c": "fill", "w": "320"}."""
    pairs = (part.partition("_") for part in segment.split(","))
    return {name: value for name, _, value in pairs}


def _transform(data: bytes, steps: list[dict[str, str]]) -> bytes:
    with Image.open(io.BytesIO(data)) as original:
        fmt = original.format
        image = original.copy()
    for step in steps:
        image = _apply(image, step)
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def _apply(image: Image.Image, step: dict[str, str]) -> Image.Image:
    crop = step.get("c", "scale")
    if crop not in _CROPS or not set(step) <= {"c", "g", "w", "h"}:
        raise ValueError(f"Invalid transformation component {step}")
    try:
        width = int(step["w"]) if "w" in step else None
        height = int(step["h"]) if "h" in step else None
    except ValueError as exc:
        raise ValueError("Invalid width or height") from exc
    if width is None and height is None:
        return image
    # A missing side keeps the aspect ratio.
    ratio = image.width / image.height
    width, height = width or round((height or 0) * ratio), height or round((width or 0) / ratio)
    if crop in ("fill", "thumb"):
        return ImageOps.fit(image, (width, height))
    if crop == "scale":
        return image.resize((width, height))
    if crop == "limit" and image.width <= width and image.height <= height:
        return image
    return ImageOps.contain(image, (width, height))
