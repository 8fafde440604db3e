"""Typed dependencies over what the lifespan built; tests override them here.

They are `async def` although they never await: FastAPI runs a plain `def` dependency in its
thread pool, a thread hop per dependency per request for what is an attribute read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from roadhazard.detection.service import DetectionService
from roadhazard.geocoding.service import GeocodingService
from roadhazard.health.service import ReadinessRegistry
from roadhazard.media.service import ImageStore
from roadhazard.reports.service import ReportsService
from roadhazard.reports.worker import QueueWorker
from roadhazard.sessions.service import SessionService
from roadhazard.settings import Settings


@dataclass
class Resources:
    """Everything with a connection, a thread or a task, built and closed by the lifespan."""

    detection: DetectionService
    readiness: ReadinessRegistry
    redis: Redis
    version: str
    reports: ReportsService
    images: ImageStore
    sessions: SessionService
    geocoding: GeocodingService
    workers: tuple[QueueWorker, ...]


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


async def get_detection_service(
    resources: Annotated[Resources, Depends(get_resources)],
) -> DetectionService:
    return resources.detection


async def get_readiness(
    resources: Annotated[Resources, Depends(get_resources)],
) -> ReadinessRegistry:
    return resources.readiness


async def get_redis(resources: Annotated[Resources, Depends(get_resources)]) -> Redis:
    return resources.redis


async def get_version(resources: Annotated[Resources, Depends(get_resources)]) -> str:
    return resources.version


async def get_reports_service(
    resources: Annotated[Resources, Depends(get_resources)],
) -> ReportsService:
    return resources.reports


async def get_image_store(resources: Annotated[Resources, Depends(get_resources)]) -> ImageStore:
    return resources.images


async def get_session_service(
    resources: Annotated[Resources, Depends(get_resources)],
) -> SessionService:
    return resources.sessions


async def get_geocoding_service(
    resources: Annotated[Resources, Depends(get_resources)],
) -> GeocodingService:
    return resources.geocoding


SettingsDep = Annotated[Settings, Depends(get_settings)]
DetectionServiceDep = Annotated[DetectionService, Depends(get_detection_service)]
ReadinessDep = Annotated[ReadinessRegistry, Depends(get_readiness)]
RedisDep = Annotated[Redis, Depends(get_redis)]
VersionDep = Annotated[str, Depends(get_version)]
ReportsServiceDep = Annotated[ReportsService, Depends(get_reports_service)]
ImageStoreDep = Annotated[ImageStore, Depends(get_image_store)]
SessionServiceDep = Annotated[SessionService, Depends(get_session_service)]
GeocodingServiceDep = Annotated[GeocodingService, Depends(get_geocoding_service)]
