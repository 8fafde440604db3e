"""The frame stream's messages: what a client sends (auth, ping, a frame's metadata) and what it
is answered (ready, a frame's detections, an error, pong).

A frame's metadata is `FrameParams`, the model `POST /v1/sessions/{id}/frames` validates its
fields with, plus the client's frame id; a frame's answer is that endpoint's `FrameResponse`
plus the frame id and the frames dropped since the previous answer.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from roadhazard.inputs import Integer
from roadhazard.schemas import Problem
from roadhazard.sessions.schemas import FrameParams, FrameResponse

# Echoed as sent: a short printable text, or a counter that stays exact in JavaScript.
FrameId = (
    Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\x20-\x7e]+$")]
    | Annotated[Integer, Field(ge=0, le=2**53 - 1)]
)


class FrameMetadata(FrameParams):
    """A frame's metadata: the HTTP endpoint's fields, validated by its model, and its id."""

    type: Literal["frame"] = "frame"
    frame_id: FrameId = Field(description="The client's id of the frame, echoed in its answer.")


class AuthMessage(BaseModel):
    """The API key, as the first message, for a client that cannot set the header."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["auth"]
    api_key: str = Field(min_length=1, max_length=512)


class PingMessage(BaseModel):
    """Keeps a stream that sends no frames for a while open; answered with a pong."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["ping"]


class ReadyMessage(BaseModel):
    """Sent once the caller and its session are admitted: frames may follow."""

    type: Literal["ready"] = "ready"
    session_id: str
    connection_id: str = Field(description="Quoted as `request_id` in errors and the logs.")
    max_image_bytes: int
    idle_timeout_s: float


class FrameAnswer(FrameResponse):
    """The answer `POST .../frames` gives, for the frame the client named."""

    type: Literal["frame"] = "frame"
    frame_id: FrameId
    dropped: int = Field(
        ge=0, description="Frames replaced by newer ones, unanswered, since the last answer."
    )


class ErrorMessage(BaseModel):
    """A refused message or a frame that failed; the stream goes on unless it is then closed."""

    type: Literal["error"] = "error"
    frame_id: FrameId | None = Field(
        default=None, description="The frame it concerns; left out when none is known."
    )
    retry_after_s: int | None = Field(
        default=None, description="With 429 and 503: when to send again, in seconds."
    )
    problem: Problem


class PongMessage(BaseModel):
    type: Literal["pong"] = "pong"
