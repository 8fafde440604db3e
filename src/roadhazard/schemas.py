"""Response shapes shared by every domain."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Problem(BaseModel):
    """An RFC 9457 problem detail, as every error response carries."""

    type: str = Field(examples=["https://roadhazard.dev/problems/validation-error"])
    title: str
    status: int
    detail: str
    instance: str
    request_id: str
    errors: list[dict[str, object]] | None = None


def problem_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI entries documenting the problem+json errors an operation may return."""
    return {
        status: {
            "model": Problem,
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
        for status in statuses
    }
