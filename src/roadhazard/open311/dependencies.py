"""What an Open311 request carries: its format (the path's extension), its form (POST), the
reporter it comes from (`api_key` in the form, or the usual header) and this deployment."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Path, Request
from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser

from roadhazard.access.dependencies import AccessPolicyDep, authorise, presented_key
from roadhazard.access.service import Principal, Role
from roadhazard.errors import BadRequest, ContentTooLarge, NotFound, UnsupportedMediaType, shown
from roadhazard.inputs import FormFields
from roadhazard.open311.mapping import Deployment
from roadhazard.open311.rendering import Format
from roadhazard.open311.schemas import EMPTY_MEANS_ABSENT, ServiceRequestIn
from roadhazard.settings import SettingsDep
from roadhazard.uploads.dependency import validate_body_fields

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
# A service request is a few short fields: a body past this is not one.
FORM_MAX_BYTES = 64 * 1024
FORM_MAX_FIELDS = 200
_DECLARED = frozenset(ServiceRequestIn.model_fields)


async def response_format(
    response_format: Annotated[
        str,
        Path(description="json or xml", json_schema_extra={"enum": [f.value for f in Format]}),
    ],
) -> Format:
    try:
        return Format(response_format)
    except ValueError:
        raise NotFound(
            f"There is no format {shown(response_format)!r}; ask for .json or .xml."
        ) from None


FormatDep = Annotated[Format, Depends(response_format)]


async def deployment(request: Request, settings: SettingsDep) -> Deployment:
    return Deployment(
        agency=settings.open311_agency,
        base_url=str(request.base_url).rstrip("/"),
        production=settings.environment == "production",
    )


DeploymentDep = Annotated[Deployment, Depends(deployment)]


async def posted_form(request: Request) -> FormFields:
    """The fields of a POST, url-encoded (as the specification sends them) or multipart, as
    text; a field the form model names may be sent once."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    # No content type is fine for no body: a form without fields.
    raw = await _body(request) if media_type in (URLENCODED, MULTIPART, "") else None
    if raw is None or (not media_type and raw):
        raise UnsupportedMediaType(f"Send the fields as {URLENCODED}.")
    if media_type == MULTIPART:
        pairs = await _multipart(content_type, raw)
    else:
        pairs = _urlencoded(raw)
    fields = FormFields()
    for name, value in pairs:
        if name in fields and name in _DECLARED:
            raise BadRequest(f"The field {name} was sent more than once.")
        fields.setdefault(name, value)
    return fields


async def _body(request: Request) -> bytes:
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > FORM_MAX_BYTES:
            raise ContentTooLarge(f"A service request has at most {FORM_MAX_BYTES} bytes.")
    return bytes(received)


def _urlencoded(raw: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(
            raw.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=FORM_MAX_FIELDS,
        )
    except ValueError:  # UnicodeDecodeError too
        raise BadRequest(
            f"The form is not valid {URLENCODED} (UTF-8, percent-encoded), or has more than "
            f"{FORM_MAX_FIELDS} fields."
        ) from None


async def _multipart(content_type: str, raw: bytes) -> list[tuple[str, str]]:
    async def stream() -> AsyncGenerator[bytes, None]:
        yield raw

    parser = MultiPartParser(
        Headers({"content-type": content_type}),
        stream(),
        max_files=0,
        max_fields=FORM_MAX_FIELDS,
        max_part_size=FORM_MAX_BYTES,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise BadRequest(f"Malformed multipart body: {exc.message}") from None
    return [(name, value) for name, value in form.multi_items() if isinstance(value, str)]


PostedFormDep = Annotated[FormFields, Depends(posted_form)]

MISSING_KEY = "Send an API key with the reporter role as the api_key field, or in X-API-Key."


async def reporter(request: Request, policy: AccessPolicyDep, form: PostedFormDep) -> Principal:
    key = form.get("api_key") or presented_key(request)
    return authorise(policy, key, Role.REPORTER, missing_key=MISSING_KEY)


ReporterDep = Annotated[Principal, Depends(reporter)]


async def service_request(form: PostedFormDep) -> ServiceRequestIn:
    # An optional text field sent empty is as if not sent (the specification's rule).
    sent = FormFields(
        (name, value)
        for name, value in form.items()
        if name in _DECLARED and (value or name not in EMPTY_MEANS_ABSENT)
    )
    return validate_body_fields(ServiceRequestIn, sent, "The service request is invalid.")


ServiceRequestDep = Annotated[ServiceRequestIn, Depends(service_request)]
