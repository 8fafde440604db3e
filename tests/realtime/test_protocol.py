"""The stream's wire format and its one pending slot, without a connection."""

from __future__ import annotations

import json
from typing import Any

import pytest

from roadhazard.errors import Unprocessable
from roadhazard.realtime.protocol import (
    MAX_METADATA_BYTES,
    MessageDecoder,
    ReceivedFrame,
    Refused,
    TooBig,
)
from roadhazard.realtime.schemas import AuthMessage, PingMessage
from roadhazard.realtime.slot import LatestFrameSlot
from tests.realtime.client import framed, metadata

IMAGE = b"\xff\xd8 not really a jpeg"


def text(fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "websocket.receive", "text": json.dumps(fields)}


def binary(data: bytes) -> dict[str, Any]:
    return {"type": "websocket.receive", "bytes": data}


def test_metadata_then_its_image_make_a_frame() -> None:
    decoder = MessageDecoder(max_image_bytes=1024)

    assert decoder.decode(text({"type": "frame", **metadata("f-1", 0.0, accuracy_m=4)})) is None
    frame = decoder.decode(binary(IMAGE))

    assert isinstance(frame, ReceivedFrame)
    assert (frame.metadata.frame_id, frame.image) == ("f-1", IMAGE)
    assert (frame.metadata.lat, frame.metadata.accuracy_m) == (52.52, 4.0)


def test_one_binary_message_carries_its_header() -> None:
    decoder = MessageDecoder(max_image_bytes=1024)

    frame = decoder.decode(binary(framed(metadata(7, 0.0, position=None), IMAGE)))

    assert isinstance(frame, ReceivedFrame)
    assert (frame.metadata.frame_id, frame.metadata.lat, frame.image) == (7, None, IMAGE)


def test_control_messages() -> None:
    decoder = MessageDecoder(max_image_bytes=1024)

    assert decoder.decode(text({"type": "ping"})) == PingMessage(type="ping")
    assert decoder.decode(text({"type": "auth", "api_key": "k" * 20})) == AuthMessage(
        type="auth", api_key="k" * 20
    )


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"lat": 91.0, "lon": 0.0}, ["body", "lat"]),
        ({"lat": 52.0}, ["body"]),  # lat without lon, as the HTTP endpoint refuses it
        ({"heading": "north"}, ["body", "heading"]),
        ({"captured_at": "2024-05-01 12:00"}, ["body", "captured_at"]),
        ({"colour": "red"}, ["body", "colour"]),
    ],
)
def test_metadata_is_validated_as_the_http_endpoint_validates_it(
    fields: dict[str, Any], loc: list[str]
) -> None:
    decoder = MessageDecoder(max_image_bytes=1024)

    with pytest.raises(Refused) as refused:
        decoder.decode(text({"type": "frame", "frame_id": "f-9", **fields}))

    assert isinstance(refused.value.error, Unprocessable)
    assert refused.value.frame_id == "f-9"
    assert [error["loc"] for error in refused.value.error.errors] == [loc]
    # The image that follows refused metadata is passed over, not read as a framed message.
    assert decoder.decode(binary(IMAGE)) is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00\x00",
        IMAGE,  # no header: its first bytes read as a length far beyond the limit
        b"\x00\x00\x00\x10{}",  # a header longer than the message
        b"\x00\x00\x00\x02[]" + IMAGE,  # a header that is not an object
        b"\x00\x00\x00\x02{}",  # no image after the header (and no frame_id)
    ],
)
def test_malformed_binary_messages_are_refused(data: bytes) -> None:
    with pytest.raises(Refused):
        MessageDecoder(max_image_bytes=1024).decode(binary(data))


@pytest.mark.parametrize(
    "message",
    [
        {"type": "websocket.receive", "text": "not json"},
        {"type": "websocket.receive", "text": "[1, 2]"},
        text({"type": "hello"}),
        text({"type": "ping", "extra": 1}),
        text({"type": "frame", "frame_id": ""}),
        text({"type": "frame", "frame_id": True}),
        text({"type": "frame", "frame_id": "x" * 65}),
        {"type": "websocket.receive"},
    ],
)
def test_bad_messages_are_refused(message: dict[str, Any]) -> None:
    with pytest.raises(Refused):
        MessageDecoder(max_image_bytes=1024).decode(message)


def test_metadata_without_its_image_is_refused_and_replaced() -> None:
    decoder = MessageDecoder(max_image_bytes=1024)
    decoder.decode(text({"type": "frame", **metadata("first", 0.0)}))

    with pytest.raises(Refused) as refused:
        decoder.decode(text({"type": "frame", **metadata("second", 0.2)}))
    frame = decoder.decode(binary(IMAGE))

    assert refused.value.frame_id == "first"
    assert isinstance(frame, ReceivedFrame)
    assert frame.metadata.frame_id == "second"


def test_messages_over_their_limits_are_too_big() -> None:
    decoder = MessageDecoder(max_image_bytes=1024)
    with pytest.raises(TooBig):
        decoder.decode({"type": "websocket.receive", "text": " " * (MAX_METADATA_BYTES + 1)})
    with pytest.raises(TooBig):
        decoder.decode({"type": "websocket.receive", "text": "é" * (MAX_METADATA_BYTES // 2 + 1)})
    with pytest.raises(TooBig):
        decoder.decode(binary(framed(metadata(1, 0.0), b"x" * 1025)))


async def test_the_slot_keeps_the_newest_frame_and_counts_the_others() -> None:
    slot: LatestFrameSlot[str] = LatestFrameSlot()

    assert slot.put("a") is False
    assert slot.put("b") is True
    assert slot.put("c") is True
    assert await slot.take() == "c"
    assert slot.take_dropped() == 2
    assert slot.take_dropped() == 0

    slot.put("d")
    assert slot.close() is True
    assert await slot.take() is None
    assert slot.put("e") is True
    assert slot.take_dropped() == 2
