"""The wire format of `WS /v1/sessions/{id}/stream`: reading the client's messages, writing the
answers, and the close codes.

A frame comes in one of two forms:
- a text message `{"type": "frame", "frame_id": ..., "lat": ..., ...}`, then one binary
  message with the image;
- one binary message: a 4-byte big-endian length N, N bytes of the same JSON (its `type` may be
  left out), then the image.

A binary message that does not follow a metadata message is read as the second form. Text
messages are also `{"type": "auth", "api_key": ...}` (as the first message only) and
`{"type": "ping"}`.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from starlette.requests import HTTPConnection
from starlette.types import Message

from roadhazard.error_handlers import ErrorAnswer, problem_document
from roadhazard.errors import BadRequest, RoadhazardError, Unprocessable
from roadhazard.realtime.schemas import (
    AuthMessage,
    ErrorMessage,
    FrameAnswer,
    FrameId,
    FrameMetadata,
    PingMessage,
    PongMessage,
    ReadyMessage,
)
from roadhazard.schemas import Problem
from roadhazard.sessions.schemas import FrameResponse
from roadhazard.uploads.body import parse_json_body
from roadhazard.uploads.dependency import validate_body_fields

# A frame's metadata is a dozen short fields; this bounds the JSON parse of any text message.
MAX_METADATA_BYTES = 4096
HEADER_LENGTH = struct.Struct(">I")
INVALID_METADATA = "The frame's metadata is invalid."
# Refused messages in a row after which the stream is closed (1008): a client that keeps
# sending what it cannot send is broken, and answering it costs more than it is worth.
MAX_VIOLATIONS = 5

# Query parameters a key might be sent in (compared lower case, `-` as `_`): a key in a URL is
# written into proxy and server logs, so a connection that sends one is refused, not served.
URL_KEY_PARAMETERS = frozenset(
    {"api_key", "apikey", "key", "token", "access_token", "x_api_key", "authorization"}
)
KEY_IN_URL = (
    "API keys are not accepted in the URL (it ends up in logs); send the key in X-API-Key, as a"
    " Bearer token, or in the first message."
)

_FRAME_ID = TypeAdapter[FrameId](FrameId)
ControlMessage = TypeVar("ControlMessage", AuthMessage, PingMessage)


class CloseCode(enum.IntEnum):
    """How the server closes a stream (RFC 6455 codes, and 4000 + an HTTP status)."""

    GOING_AWAY = 1001  # the server is shutting down: reconnect, to another replica
    POLICY_VIOLATION = 1008  # a key in the URL, a missing or refused key, repeated bad messages
    MESSAGE_TOO_BIG = 1009  # an image over MAX_IMAGE_BYTES, metadata over 4 KiB
    SERVER_ERROR = 1011  # an unexpected error; the connection id is in the log
    TRY_AGAIN_LATER = 1013  # the session could not be checked (Redis unavailable)
    UNKNOWN_SESSION = 4404  # no such session, it expired, or another key opened it
    IDLE = 4408  # no message for STREAM_IDLE_TIMEOUT_S
    SESSION_ENDED = 4410  # the session was ended; start a new one


@dataclass(frozen=True)
class Closing:
    """Why a stream ends: the close code and reason to send, or none when the client left."""

    code: CloseCode | None
    reason: str = ""


CLIENT_LEFT = Closing(None)


@dataclass(frozen=True)
class ReceivedFrame:
    metadata: FrameMetadata
    image: bytes


class Refused(Exception):
    """A message the stream refuses (it counts towards MAX_VIOLATIONS): the problem, and the
    frame it concerned, when its id could be read."""

    def __init__(self, error: RoadhazardError, frame_id: FrameId | None = None) -> None:
        super().__init__(error.detail)
        self.error = error
        self.frame_id = frame_id


class TooBig(Exception):
    """A message over its limit: the stream is closed with 1009, as the protocol layer does."""


ClientMessage = ReceivedFrame | AuthMessage | PingMessage


class MessageDecoder:
    """Reads one connection's messages in order; holds the metadata waiting for its image."""

    def __init__(self, max_image_bytes: int) -> None:
        self._max_image_bytes = max_image_bytes
        self._waiting: FrameMetadata | None = None
        # After refused metadata its image still comes; it is passed over, not misread as a
        # binary message of the other form (which would be a second refusal for one mistake).
        self._skip_image = False

    def decode(self, message: Message) -> ClientMessage | None:
        """The message's meaning; None for metadata, which waits for its image, and for the
        image of refused metadata."""
        text: str | None = message.get("text")
        if text is not None:
            return self._text(text)
        data: bytes | None = message.get("bytes")
        if data is None:
            raise Refused(BadRequest("The message is empty."))
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            return ReceivedFrame(waiting, self._image(data, waiting.frame_id))
        if self._skip_image:
            self._skip_image = False
            return None
        return self._framed(data)

    def _text(self, text: str) -> ClientMessage | None:
        self._skip_image = False
        # Characters are at least a byte each: a long text is refused before it is encoded.
        if len(text) > MAX_METADATA_BYTES or len(raw := text.encode()) > MAX_METADATA_BYTES:
            raise TooBig(f"a text message may have at most {MAX_METADATA_BYTES} bytes")
        fields = _json_object(raw)
        kind = fields.get("type")
        if kind == "ping":
            return _checked(PingMessage, fields)
        if kind == "auth":
            return _checked(AuthMessage, fields)
        if kind != "frame":
            raise Refused(BadRequest("A text message's type must be frame, auth or ping."))
        abandoned, self._waiting = self._waiting, None
        self._skip_image = True
        metadata = _metadata(fields)
        self._skip_image, self._waiting = False, metadata
        if abandoned is not None:
            raise Refused(
                BadRequest("A frame's metadata was not followed by its image (a binary message)."),
                abandoned.frame_id,
            )
        return None

    def _framed(self, data: bytes) -> ReceivedFrame:
        size = HEADER_LENGTH.size
        length = HEADER_LENGTH.unpack_from(data)[0] if len(data) >= size else 0
        if not 0 < length <= MAX_METADATA_BYTES or size + length > len(data):
            raise Refused(
                BadRequest(
                    "A binary message without metadata before it starts with its JSON header's"
                    f" length (4 bytes, big-endian, at most {MAX_METADATA_BYTES}), the header,"
                    " then the image."
                )
            )
        fields = _json_object(data[size : size + length])
        metadata = _metadata({"type": "frame", **fields})
        return ReceivedFrame(metadata, self._image(data[size + length :], metadata.frame_id))

    def _image(self, image: bytes, frame_id: FrameId) -> bytes:
        if len(image) > self._max_image_bytes:
            raise TooBig(f"an image may have at most {self._max_image_bytes} bytes")
        if not image:
            raise Refused(BadRequest("The frame's image is empty."), frame_id)
        return image


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        fields = parse_json_body(raw)
    except BadRequest as exc:
        raise Refused(exc) from None
    if not isinstance(fields, dict):
        raise Refused(BadRequest("A message's JSON must be an object."))
    return fields


def _metadata(fields: dict[str, Any]) -> FrameMetadata:
    try:
        return validate_body_fields(FrameMetadata, fields, INVALID_METADATA)
    except Unprocessable as exc:
        raise Refused(exc, _frame_id_in(fields)) from None


def _checked(model: type[ControlMessage], fields: dict[str, Any]) -> ControlMessage:
    try:
        return validate_body_fields(model, fields, f"The {fields['type']} message is invalid.")
    except Unprocessable as exc:
        raise Refused(exc) from None


def _frame_id_in(fields: dict[str, Any]) -> FrameId | None:
    try:
        return _FRAME_ID.validate_python(fields.get("frame_id"))
    except ValidationError:
        return None


def key_in_url(connection: HTTPConnection) -> bool:
    names = (name.lower().replace("-", "_") for name in connection.query_params)
    return any(name in URL_KEY_PARAMETERS for name in names)


def ready_message(
    session_id: str, connection_id: str, *, max_image_bytes: int, idle_timeout_s: float
) -> str:
    return ReadyMessage(
        session_id=session_id,
        connection_id=connection_id,
        max_image_bytes=max_image_bytes,
        idle_timeout_s=idle_timeout_s,
    ).model_dump_json()


def frame_answer(response: FrameResponse, frame_id: FrameId, dropped: int) -> str:
    # Built from a validated answer and validated values: nothing to check again.
    answer = FrameAnswer.model_construct(**dict(response), frame_id=frame_id, dropped=dropped)
    return answer.model_dump_json()


def error_message(connection: HTTPConnection, answer: ErrorAnswer, frame_id: FrameId | None) -> str:
    """The problem document the HTTP endpoint would answer, with the connection's id."""
    problem = problem_document(
        connection,
        answer.status,
        problem=answer.problem,
        detail=answer.detail,
        extra={"errors": answer.errors} if answer.errors else None,
    )
    retry_after = answer.headers.get("Retry-After")
    return ErrorMessage(
        frame_id=frame_id,
        retry_after_s=int(retry_after) if retry_after else None,
        problem=Problem.model_validate(problem),
    ).model_dump_json(exclude_none=True)


PONG = PongMessage().model_dump_json()
