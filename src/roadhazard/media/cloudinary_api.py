"""What Cloudinary's HTTP APIs expect: request signatures, public ids and delivery URLs.

Pure functions with no I/O; the store in `cloudinary.py` does the talking.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from typing import Literal

from roadhazard.ids import ULID_PATTERN
from roadhazard.media.service import IMAGE_KINDS

SignatureAlgorithm = Literal["sha1", "sha256"]

# A crop to 320x240 around what Cloudinary finds most interesting in the picture.
THUMBNAIL_TRANSFORMATION = "c_fill,g_auto,w_320,h_240"

# "Generating authentication signatures": every parameter sent is signed except these.
# `signature` is listed because it is sent but, naturally, cannot sign itself.
_UNSIGNED_PARAMETERS = frozenset({"file", "cloud_name", "resource_type", "api_key", "signature"})

_KEY = re.compile(rf"({ULID_PATTERN})\.({'|'.join(IMAGE_KINDS)})")
FOLDER = re.compile(r"[A-Za-z0-9_-]{1,64}")


def string_to_sign(params: Mapping[str, str]) -> str:
    """`name=value` pairs of the signed parameters, sorted by name, joined with `&`."""
    signed = sorted(name for name in params if name not in _UNSIGNED_PARAMETERS)
    return "&".join(f"{name}={params[name]}" for name in signed)


def api_signature(
    params: Mapping[str, str], api_secret: str, algorithm: SignatureAlgorithm = "sha1"
) -> str:
    """The hex digest of the string to sign with the API secret appended."""
    payload = (string_to_sign(params) + api_secret).encode()
    if algorithm == "sha256":
        return hashlib.sha256(payload).hexdigest()
    return hashlib.sha1(payload).hexdigest()


def public_id_for(folder: str, key: str) -> str:
    """The public id an image key is stored under; the same key always gives the same id.

    The key's dot becomes an underscore: Cloudinary would read a trailing `.original` as the
    format of the file.
    """
    match = _KEY.fullmatch(key)
    if match is None:
        raise ValueError(f"{key!r} is not an image key")
    report_id, kind = match.groups()
    return f"{folder}/{report_id}_{kind}"


def delivery_url(
    base_url: str, cloud_name: str, public_id: str, *, transformation: str | None = None
) -> str:
    """`<base>/<cloud>/image/upload/[<transformation>/]v1/<public_id>`.

    The `v1` version marks where a transformation ends and a public id with a folder begins.
    It is also the form Cloudinary's CDN invalidates by default for ids with a slash, so an
    overwritten or deleted image stops being served from the cache.
    """
    parts = [base_url.rstrip("/"), cloud_name, "image", "upload"]
    if transformation:
        parts.append(transformation)
    parts += ["v1", public_id]
    return "/".join(parts)


class SignedParams(Mapping[str, str]):
    """Form fields of a signed request.

    Not a dict on purpose: a logged traceback may render the frames' locals, and a signature
    lets anyone repeat the request for an hour, so the repr names the fields, never a value.
    """

    def __init__(self, fields: Mapping[str, str]) -> None:
        self._fields = dict(fields)

    def __getitem__(self, name: str) -> str:
        return self._fields[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"SignedParams({', '.join(self._fields)})"


def sign(
    params: Mapping[str, str],
    *,
    api_key: str,
    api_secret: str,
    timestamp: int,
    algorithm: SignatureAlgorithm = "sha1",
) -> SignedParams:
    """`params` with the timestamp, the API key and the signature added."""
    stamped = {**params, "timestamp": str(timestamp)}
    signature = api_signature(stamped, api_secret, algorithm)
    return SignedParams({**stamped, "api_key": api_key, "signature": signature})
