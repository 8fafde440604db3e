"""`ImageUpload`: the one dependency of every operation that takes images, with its own OpenAPI
request body.

Annotations here are evaluated where they are written (no `from __future__ import annotations`):
FastAPI reads the parameters of a callable instance's `__call__`, and resolves string
annotations in the globals of a function, which an instance does not have.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from roadhazard.errors import RoadhazardError, Unprocessable, public_validation_errors
from roadhazard.inputs import FormFields, NumbersTogether, form_values
from roadhazard.settings import SettingsDep
from roadhazard.uploads.body import read_image_body
from roadhazard.uploads.openapi import image_request_body

ParamsT = TypeVar("ParamsT", bound=BaseModel)


@dataclasses.dataclass
class Upload(Generic[ParamsT]):
    """The images of one request, in order, each read or refused (a batch answers per image),
    and its other fields, validated as `params` when first read.

    Validation waits for the handler, so each handler keeps its own order of refusals: a
    request both with a bad image and with bad fields hears about the one its handler reads
    first.
    """

    items: list[bytes | RoadhazardError]
    fields: Mapping[str, Any]
    params_model: type[ParamsT]
    invalid_detail: str
    _params: ParamsT | None = dataclasses.field(default=None, init=False, repr=False)

    @property
    def params(self) -> ParamsT:
        if self._params is None:
            self._params = validate_body_fields(self.params_model, self.fields, self.invalid_detail)
        return self._params

    @property
    def image(self) -> bytes:
        """The one image, or its refusal raised."""
        item = self.items[0]
        if isinstance(item, RoadhazardError):
            raise item
        return item

    @property
    def image_if_sent(self) -> bytes | None:
        return self.image if self.items else None


class ImageUpload(Generic[ParamsT]):
    """Reads `field` (one image, or a list of them if `many`) and the fields of `params_model`
    from a multipart form or a JSON body; `openapi_extra` documents both ways.

    `image_required=False` allows a body without an image. `invalid_detail` is the 422's
    detail for fields that fail validation. `together` and `form_fields` go into the document
    (see `image_request_body`).
    """

    def __init__(
        self,
        field: str,
        params_model: type[ParamsT],
        *,
        invalid_detail: str,
        many: bool = False,
        image_required: bool = True,
        together: NumbersTogether | None = None,
        form_fields: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        self.field = field
        self.params_model = params_model
        self.invalid_detail = invalid_detail
        self.many = many
        self.image_required = image_required
        self.openapi_extra = image_request_body(
            field,
            params_model,
            many=many,
            image_required=image_required,
            together=together,
            form_fields=form_fields,
        )

    async def __call__(self, request: Request, settings: SettingsDep) -> Upload[ParamsT]:
        body = await read_image_body(
            request,
            field_name=self.field,
            many=self.many,
            max_images=settings.batch_max_images if self.many else 1,
            max_image_bytes=settings.max_image_bytes,
            required=self.image_required,
        )
        return Upload(body.items, body.fields, self.params_model, self.invalid_detail)


def validate_body_fields(model: type[ParamsT], fields: Mapping[str, Any], detail: str) -> ParamsT:
    """Validates fields read by hand from a multipart form (`FormFields`, text) or a JSON body;
    bad ones are a 422 problem whose `errors` point into the body, as FastAPI's own do."""
    values = form_values(model, fields) if isinstance(fields, FormFields) else fields
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise Unprocessable(
            detail,
            errors=public_validation_errors(
                {**e, "loc": ("body", *e["loc"])} for e in exc.errors()
            ),
        ) from None
