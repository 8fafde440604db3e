"""The service's one typed configuration, read from ROADHAZARD_* variables and a .env file.

Ground level: plain validated values, and no domain imports. The domains build their objects
from these values (`AccessPolicy.from_settings`, the detection service's class map...), and
the checks only a domain can make run at start, in `roadhazard.configuration`.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from fastapi import Depends
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.asyncio.connection import parse_url
from starlette.requests import HTTPConnection

from roadhazard import __version__
from roadhazard.credentials import CloudinaryCredentials
from roadhazard.map_tiles import (
    OPENSTREETMAP_ATTRIBUTION,
    OPENSTREETMAP_TILES,
    check_attribution,
    check_tile_url,
)
from roadhazard.proxies import check_trusted_proxies
from roadhazard.urls import split_http_url

BUNDLED_MODEL = Path(__file__).parent / "models" / "roadhazard-demo.onnx"

Runtime = Literal["auto", "onnxruntime", "openvino"]


class Settings(BaseSettings):
    """Every setting the service reads; the README's configuration table mirrors this class."""

    model_config = SettingsConfigDict(
        env_prefix="ROADHAZARD_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # `ROADHAZARD_X=` (an empty value, as compose files and shells leave) means unset.
        env_ignore_empty=True,
        frozen=True,
    )

    environment: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    log_format: Literal["json", "console", "auto"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    data_dir: Path = Path("data")

    model_path: Path = BUNDLED_MODEL
    model_runtime: Runtime = "auto"
    model_class_names: list[str] | None = None
    class_map: dict[str, str] = Field(default_factory=dict)
    model_imgsz: int = Field(default=640, ge=32, le=4096, multiple_of=32)
    model_warmup_runs: int = Field(default=1, ge=0, le=10)

    inference_concurrency: int = Field(default=2, ge=1, le=64)
    inference_threads: int = Field(default=1, ge=1, le=64)
    inference_queue_size: int = Field(default=8, ge=0, le=10_000)
    inference_timeout_s: float = Field(default=30.0, gt=0, le=600)

    # Unset lets a model's own per-class thresholds (class_conf metadata) apply, else 0.25.
    conf_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    iou_threshold: float = Field(default=0.7, ge=0.0, le=1.0)
    max_det: int = Field(default=300, ge=1, le=10_000)

    max_image_bytes: int = Field(default=15 * 1024 * 1024, ge=1024)
    max_request_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(default=50_000_000, ge=1024)
    batch_max_images: int = Field(default=16, ge=1, le=256)

    redis_url: SecretStr | None = None
    redis_socket_timeout_s: float = Field(default=2.0, gt=0, le=60)
    redis_connect_timeout_s: float = Field(default=1.0, gt=0, le=60)
    redis_retries: int = Field(default=2, ge=0, le=10)
    redis_embedded_start_timeout_s: float = Field(default=10.0, gt=0, le=120)

    ready_cache_s: float = Field(default=1.0, ge=0.0, le=60.0)
    ready_check_timeout_s: float = Field(default=2.0, gt=0, le=60.0)
    retry_after_s: int = Field(default=1, ge=1, le=3600)
    build_sha: str | None = Field(default=None, pattern=r"^[0-9a-f]{4,40}$")

    # access
    api_keys: SecretStr | None = None
    public_reads: bool = True
    docs_enabled: bool = True

    # the HTTP edge: what `roadhazard serve` accepts before a request reaches the app
    forwarded_allow_ips: str = ""
    max_headers: int = Field(default=100, ge=10, le=1000)
    max_header_line_bytes: int = Field(default=8 * 1024, ge=1024, le=1024 * 1024)
    max_header_bytes: int = Field(default=64 * 1024, ge=4 * 1024, le=16 * 1024 * 1024)

    # sessions
    session_idle_ttl_s: int = Field(default=3600, ge=1, le=30 * 24 * 3600)
    session_retry_ttl_s: int = Field(default=300, ge=1, le=24 * 3600)
    track_window_s: float = Field(default=5.0, gt=0, le=600)
    track_radius_m: float = Field(default=10.0, gt=0, le=500)
    # WebSocket frame streams (/v1/sessions/{id}/stream): closed after this long without a
    # message from the client; protocol pings this often find a peer that is gone
    stream_idle_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    stream_ping_interval_s: float = Field(default=20.0, gt=0, le=600)
    # scan coverage (/v1/coverage, /v1/sessions/{id}/track): a cell is kept this long after
    # its latest scan; a session's frames in a cell less than the gap apart are one pass; a
    # session keeps at most this many GPS points (its newest), for the session's idle TTL
    coverage_retention_days: int = Field(default=90, ge=1, le=3650)
    coverage_pass_gap_s: float = Field(default=120.0, gt=0, le=24 * 3600)
    track_max_points: int = Field(default=10_000, ge=2, le=1_000_000)

    # reports
    dedupe_radius_m: float = Field(default=25.0, ge=0, le=1000)
    report_retention_days: int = Field(default=365, ge=0, le=36500)
    # Open311 GeoReport v2 (/open311/v2/): who a request is for
    open311_agency: str = Field(default="Road maintenance", min_length=1, max_length=200)
    # GIS exports (/v1/reports.geojson, .csv): streamed, at most this many reports each, and
    # each Redis read of one bounded by this (the export then fails rather than hangs)
    export_max_reports: int = Field(default=1_000_000, ge=1, le=100_000_000)
    export_redis_timeout_s: float = Field(default=10.0, gt=0, le=300)
    # The live feed of report events (/v1/reports/events): the Redis Stream keeps about this
    # many events for clients to resume from (each change of a report adds one)
    events_max_len: int = Field(default=10_000, ge=100, le=10_000_000)
    # A comment every heartbeat keeps proxies from closing a quiet connection; a listener may
    # fall this many events behind before it is let go (it reconnects and resumes); this many
    # listeners per process at most
    events_heartbeat_s: float = Field(default=15.0, gt=0, le=300)
    events_queue_size: int = Field(default=1000, ge=1, le=100_000)
    events_max_listeners: int = Field(default=1000, ge=1, le=100_000)

    # image store: local files under data_dir, or Cloudinary when configured
    cloudinary_url: SecretStr | None = None
    cloudinary_cloud_name: str | None = None
    cloudinary_api_key: str | None = None
    cloudinary_api_secret: SecretStr | None = None
    cloudinary_api_url: str = Field(default="https://api.cloudinary.com", pattern=r"^https?://")
    cloudinary_delivery_url: str = Field(
        default="https://res.cloudinary.com", pattern=r"^https?://"
    )
    cloudinary_folder: str = Field(default="roadhazard", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    cloudinary_timeout_s: float = Field(default=20.0, gt=0, le=300)

    # geocoding
    geocoder_url: str | None = Field(default=None, pattern=r"^https?://")
    geocoder_user_agent: str = Field(
        default=f"Roadhazard/{__version__} (+https://github.com/roadhazard/roadhazard)",
        min_length=8,
        max_length=200,
    )
    geocoder_email: SecretStr | None = Field(default=None, max_length=200)
    geocoder_language: str | None = Field(default=None, max_length=64)
    geocoder_timeout_s: float = Field(default=5.0, gt=0, le=60)
    geocoder_min_interval_s: float = Field(default=1.0, ge=0, le=60)
    geocoder_max_wait_s: float = Field(default=5.0, ge=0, le=60)
    geocoder_cache_ttl_s: int = Field(default=30 * 24 * 3600, ge=0, le=365 * 24 * 3600)
    offline_geocoder: bool = True

    # calls to Cloudinary and the geocoder, and the background work that retries them
    dependency_retries: int = Field(default=3, ge=1, le=10)
    circuit_failure_threshold: int = Field(default=5, ge=1, le=1000)
    circuit_reset_s: float = Field(default=30.0, gt=0, le=3600)
    outbox_poll_s: float = Field(default=1.0, gt=0, le=60)
    outbox_max_backoff_s: float = Field(default=300.0, ge=1, le=24 * 3600)
    outbox_stale_after_s: float = Field(default=120.0, gt=0, le=24 * 3600)
    shutdown_drain_s: float = Field(default=25.0, ge=0, le=600)
    shutdown_announce_s: float = Field(default=5.0, ge=0, le=120)
    loop_lag_warn_ms: float = Field(default=100.0, gt=0, le=60_000)

    # rate limits: requests per client (API key, else IP) per sliding window; 0 is unlimited
    rate_limit_enabled: bool = True
    rate_limit_window_s: int = Field(default=60, ge=1, le=3600)
    rate_limit_detect: int = Field(default=120, ge=0, le=1_000_000)
    rate_limit_frames: int = Field(default=600, ge=0, le=1_000_000)
    rate_limit_reports: int = Field(default=60, ge=0, le=1_000_000)
    rate_limit_reads: int = Field(default=600, ge=0, le=1_000_000)

    # the triage dashboard (/dashboard): its background map and how often it refreshes
    dashboard_tile_url: str = Field(default=OPENSTREETMAP_TILES, max_length=500)
    dashboard_tile_attribution: str = Field(default=OPENSTREETMAP_ATTRIBUTION, max_length=300)
    dashboard_refresh_s: float = Field(default=30.0, ge=0.2, le=3600)

    @field_validator("model_path")
    @classmethod
    def _check_model_file(cls, value: Path) -> Path:
        if value.suffix.lower() not in {".onnx", ".xml"}:
            raise ValueError(f"must be an .onnx file or an OpenVINO .xml file, got {value}")
        return value

    @model_validator(mode="after")
    def _check_runtime_fits_model(self) -> Settings:
        if self.model_path.suffix.lower() == ".xml" and self.model_runtime == "onnxruntime":
            raise ValueError(
                "ROADHAZARD_MODEL_RUNTIME=onnxruntime cannot load an OpenVINO .xml model"
            )
        return self

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        # Parsed here as the client parses it, so a bad URL stops the start with one message,
        # not a redis-py traceback. Messages never quote the URL: it may hold a password.
        if value is not None:
            check_redis_url(value.get_secret_value())
        return value

    @field_validator("geocoder_url", "cloudinary_api_url", "cloudinary_delivery_url")
    @classmethod
    def _check_http_url(cls, value: str | None) -> str | None:
        if value is not None:
            split_http_url(value)
        return value

    @field_validator("dashboard_tile_url")
    @classmethod
    def _check_tile_url(cls, value: str) -> str:
        return check_tile_url(value)

    @field_validator("dashboard_tile_attribution")
    @classmethod
    def _check_tile_attribution(cls, value: str) -> str:
        return check_attribution(value)

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _check_forwarded_allow_ips(cls, value: str) -> str:
        return check_trusted_proxies(value)

    @model_validator(mode="after")
    def _check_header_limits(self) -> Settings:
        if self.max_header_line_bytes > self.max_header_bytes:
            raise ValueError(
                "ROADHAZARD_MAX_HEADER_LINE_BYTES cannot exceed ROADHAZARD_MAX_HEADER_BYTES"
            )
        return self

    @model_validator(mode="after")
    def _check_cloudinary(self) -> Settings:
        self.cloudinary  # noqa: B018 - parsed here so a bad value fails at start
        return self

    @cached_property
    def cloudinary(self) -> CloudinaryCredentials | None:
        """The Cloudinary account, or None for the local image store."""
        separate = (self.cloudinary_cloud_name, self.cloudinary_api_key, self.cloudinary_api_secret)
        if self.cloudinary_url is not None:
            if any(value is not None for value in separate):
                raise ValueError(
                    "set ROADHAZARD_CLOUDINARY_URL or the three ROADHAZARD_CLOUDINARY_CLOUD_NAME,"
                    " _API_KEY and _API_SECRET settings, not both"
                )
            return CloudinaryCredentials.from_url(self.cloudinary_url.get_secret_value())
        if all(value is None for value in separate):
            return None
        if any(value is None for value in separate):
            raise ValueError(
                "ROADHAZARD_CLOUDINARY_CLOUD_NAME, _API_KEY and _API_SECRET go together;"
                " set all three (or ROADHAZARD_CLOUDINARY_URL)"
            )
        name, key, secret = separate
        assert name is not None
        assert key is not None
        assert secret is not None
        return CloudinaryCredentials(name, key, secret)

    def secret_values(self) -> list[str]:
        """Every configured secret, for the log sanitizer to redact wherever one appears."""
        secrets = [_secret_text(self.cloudinary_api_secret), _secret_text(self.geocoder_email)]
        if self.api_keys is not None:
            config = self.api_keys.get_secret_value()
            secrets += [config, *(entry.partition(":")[2].strip() for entry in config.split(","))]
        for url in (self.redis_url, self.cloudinary_url):
            if url is not None:
                secrets += _url_secrets(url.get_secret_value())
        return [secret for secret in secrets if secret]

    @cached_property
    def resolved_log_format(self) -> Literal["json", "console"]:
        if self.log_format != "auto":
            return self.log_format
        return "json" if self.environment == "production" else "console"

    @cached_property
    def resolved_runtime(self) -> Literal["onnxruntime", "openvino"]:
        if self.model_runtime != "auto":
            return self.model_runtime
        return "openvino" if self.model_path.suffix.lower() == ".xml" else "onnxruntime"


async def get_settings(request: HTTPConnection) -> Settings:
    """The settings the app was built with, as the lifespan keeps them on app.state."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def _secret_text(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def _url_secrets(url: str) -> list[str]:
    """A URL's password (as written and decoded, also from `?password=`) and, when it has one,
    the whole URL; an unparseable URL is a secret whole."""
    try:
        parts = urlsplit(url)
        passwords = [parts.password or ""]
    except ValueError:
        return [url]
    passwords += [value for name, value in parse_qsl(parts.query) if "password" in name.lower()]
    passwords = [p for p in passwords if p]
    if not passwords:
        return []
    return [url, *passwords, *(unquote(p) for p in passwords)]


REDIS_URL_SCHEMES = ("redis", "rediss", "unix")


def check_redis_url(url: str) -> None:
    """Raises ValueError, naming what is wrong but never the URL, unless redis-py can use it."""
    scheme, separator, _ = url.partition("://")
    if not separator or scheme.lower() not in REDIS_URL_SCHEMES:
        shown = (
            f" (not {scheme}://)"
            if separator and re.fullmatch(r"[A-Za-z0-9+.-]{1,20}", scheme)
            else ""
        )
        raise ValueError(f"must be a redis://, rediss:// or unix:// URL{shown}")
    if scheme.lower() == "unix" and not urlsplit(url).path:
        raise ValueError("a unix:// URL needs the socket's path, e.g. unix:///run/redis.sock")
    try:
        parse_url(url)
    except ValueError:
        raise ValueError("is not a valid Redis URL (check its port and query options)") from None


class ConfigurationError(Exception):
    """Raised with one human-readable message when the configuration is invalid."""


def read_settings(**overrides: object) -> Settings:
    """Builds Settings, turning pydantic's error list into one readable message.

    The service starts from `roadhazard.configuration.load_settings`, which adds the checks
    only the domains can make (the API keys, the class map)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            problems.append(setting_problem(field, message) if field else message)
        raise ConfigurationError(INVALID + "; ".join(problems)) from None


INVALID = "invalid configuration: "


def setting_problem(field: str, message: str) -> str:
    """How one setting's problem is reported: by its environment variable, never its value."""
    return f"ROADHAZARD_{field.upper()}: {message}"
