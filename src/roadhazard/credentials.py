"""Cloudinary credentials, from the official SDK's URL form or from three separate settings.

A plain value parsed from settings (ground level, below settings): the media package builds
its Cloudinary store from it, and settings checks its syntax at start without importing media.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

_CLOUD_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True)
class CloudinaryCredentials:
    cloud_name: str
    api_key: str
    api_secret: SecretStr

    def __post_init__(self) -> None:
        if not _CLOUD_NAME.fullmatch(self.cloud_name):
            raise ValueError("the Cloudinary cloud name may hold only letters, digits, _ and -")
        if not self.api_key or not self.api_secret.get_secret_value():
            raise ValueError("the Cloudinary API key and secret must not be empty")

    @classmethod
    def from_url(cls, url: str) -> CloudinaryCredentials:
        """Parses `cloudinary://<api_key>:<api_secret>@<cloud_name>`.

        Error messages describe the shape expected, never the value given: it holds a secret.
        """
        parts = urlsplit(url.strip())
        if parts.scheme != "cloudinary" or not parts.hostname:
            raise ValueError("expected cloudinary://<api_key>:<api_secret>@<cloud_name>")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("the Cloudinary URL must end with the cloud name (no path or query)")
        if not parts.username or not parts.password:
            raise ValueError("the Cloudinary URL lacks the API key or secret before the '@'")
        # urlsplit lowercases hostname; the cloud name keeps the case it was given.
        cloud_name = parts.netloc.rsplit("@", 1)[1]
        return cls(cloud_name, unquote(parts.username), SecretStr(unquote(parts.password)))
