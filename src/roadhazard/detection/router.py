"""POST /v1/detect, POST /v1/detect/batch and GET /v1/model."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from roadhazard.access.dependencies import ReaderDep, ReporterDep
from roadhazard.detection.dependencies import DetectionServiceDep
from roadhazard.detection.engine import DetectionResult
from roadhazard.detection.postprocess import Thresholds
from roadhazard.detection.schemas import (
    CLASSES_FORM_FIELD,
    BatchItemOut,
    BatchResponse,
    DetectParams,
    DetectResponse,
    ModelInfoResponse,
)
from roadhazard.detection.service import DetectionService
from roadhazard.error_handlers import problem_for
from roadhazard.errors import RoadhazardError
from roadhazard.ratelimit import carry_rate_limit_headers, rate_limit
from roadhazard.schemas import Problem, problem_responses
from roadhazard.taxonomy.schemas import HazardType
from roadhazard.uploads import ImageUpload, Upload

router = APIRouter(prefix="/v1", tags=["detection"])

PROCESSING_TIME_HEADER = "X-Processing-Time"


def document_batch_limit(document: dict[str, Any], max_images: int) -> None:
    """Writes the configured batch size (`batch_max_images`) into the API document as the
    `images` lists' maxItems: the route's schema is declared before any settings exist."""
    content = document["paths"]["/v1/detect/batch"]["post"]["requestBody"]["content"]
    for media_type in ("application/json", "multipart/form-data"):
        content[media_type]["schema"]["properties"]["images"]["maxItems"] = max_images


DETECT_UPLOAD = ImageUpload(
    "image",
    DetectParams,
    invalid_detail="The detection parameters are invalid.",
    form_fields={"classes": CLASSES_FORM_FIELD},
)
DETECT_BATCH_UPLOAD = ImageUpload(
    "images",
    DetectParams,
    invalid_detail="The detection parameters are invalid.",
    many=True,
    form_fields={"classes": CLASSES_FORM_FIELD},
)


async def _warm_service(service: DetectionServiceDep) -> DetectionService:
    """The detection service once its model is loaded: while it warms, a 503 answers before a
    large body is read."""
    service.card  # noqa: B018 - raises ServiceUnavailable while the model loads
    return service


WarmDetectionServiceDep = Annotated[DetectionService, Depends(_warm_service)]


def _hazards(service: DetectionService, result: DetectionResult) -> list[HazardType]:
    """The taxonomy class of each detection, for its response."""
    return [service.hazard_for(d.class_id) for d in result.detections]


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


@router.post(
    "/detect",
    response_model=DetectResponse,
    responses=problem_responses(400, 401, 403, 413, 415, 422, 429, 503),
    dependencies=[Depends(rate_limit("detect"))],
    openapi_extra=DETECT_UPLOAD.openapi_extra,
)
async def detect(
    response: Response,
    _: ReporterDep,
    service: WarmDetectionServiceDep,
    upload: Annotated[Upload[DetectParams], Depends(DETECT_UPLOAD)],
) -> Response:
    """Detects hazards in one image sent as a multipart file or as base64 JSON."""
    started = time.perf_counter()
    card = service.card
    params = upload.params.for_model(card.num_classes)
    thresholds = params.thresholds(service.default_thresholds)
    result = await service.detect(upload.image, thresholds)
    total_ms = _elapsed_ms(started)
    body = DetectResponse.build(result, card, _hazards(service, result), total_ms)
    # Serialized once here: FastAPI would validate and encode the model a second time, and on
    # a two-core machine that Python work on the event loop competes with inference.
    answer = Response(
        body.model_dump_json(),
        media_type="application/json",
        headers={PROCESSING_TIME_HEADER: f"{total_ms:.1f}ms"},
    )
    return carry_rate_limit_headers(answer, response)


@router.post(
    "/detect/batch",
    response_model=BatchResponse,
    responses=problem_responses(400, 401, 403, 413, 415, 422, 429, 503),
    dependencies=[Depends(rate_limit("detect"))],
    openapi_extra=DETECT_BATCH_UPLOAD.openapi_extra,
)
async def detect_batch(
    request: Request,
    response: Response,
    _: ReporterDep,
    service: WarmDetectionServiceDep,
    upload: Annotated[Upload[DetectParams], Depends(DETECT_BATCH_UPLOAD)],
) -> BatchResponse:
    """Detects in up to `batch_max_images` images; each gets its own result or error."""
    started = time.perf_counter()
    params = upload.params.for_model(service.card.num_classes)
    thresholds = params.thresholds(service.default_thresholds)
    # One batch may use every worker but must not flood the shared queue on its own.
    gate = asyncio.Semaphore(service.pool.concurrency)
    items = await asyncio.gather(
        *(
            _detect_one(request, service, gate, index, item, thresholds)
            for index, item in enumerate(upload.items)
        )
    )
    failed = sum(1 for item in items if item.error is not None)
    response.headers[PROCESSING_TIME_HEADER] = f"{_elapsed_ms(started):.1f}ms"
    return BatchResponse(results=items, succeeded=len(items) - failed, failed=failed)


async def _detect_one(
    request: Request,
    service: DetectionService,
    gate: asyncio.Semaphore,
    index: int,
    item: bytes | RoadhazardError,
    thresholds: Thresholds,
) -> BatchItemOut:
    try:
        if isinstance(item, RoadhazardError):
            raise item
        async with gate:
            started = time.perf_counter()
            result = await service.detect(item, thresholds)
        return BatchItemOut(
            index=index,
            result=DetectResponse.build(
                result, service.card, _hazards(service, result), _elapsed_ms(started)
            ),
        )
    except RoadhazardError as exc:
        return BatchItemOut(index=index, error=Problem.model_validate(problem_for(request, exc)))


@router.get(
    "/model",
    response_model=ModelInfoResponse,
    responses=problem_responses(401, 429, 503),
    dependencies=[Depends(rate_limit("reads"))],
)
async def model_info(service: DetectionServiceDep, _: ReaderDep) -> ModelInfoResponse:
    """The loaded model's card: classes, input size, layout, runtime and default thresholds,
    with each class's default confidence threshold and where it comes from."""
    return ModelInfoResponse.build(
        service.card,
        service.default_thresholds,
        service.default_confidence,
        service.class_hazards(),
    )
