"""One frame stream: its admission, a receiver task, a processor task, and how it ends.

The receiver reads every message as it comes and puts each frame in the stream's one pending
slot (latest frame wins); the processor takes the newest frame whenever the previous one is
answered and hands it to the sessions service, as `POST /v1/sessions/{id}/frames` does. So a
client that sends faster than inference runs is never queued behind its own stale frames, and a
stream holds at most two frames: one in processing, one pending.

Whichever decides first that the stream ends (the receiver: the client left, went idle, sent
too much or too many bad messages; the processor: the session is gone, or a bug; shutdown: go
away) sets its `Closing`. The frame in processing is then finished and answered, within
`finish_limit_s`, and the close code is sent.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass

import structlog
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from roadhazard.access.dependencies import MISSING_KEY, authorise, presented_key
from roadhazard.access.service import AccessPolicy, Principal, Role
from roadhazard.error_handlers import judge_failure
from roadhazard.errors import BadRequest, Conflict, RoadhazardError, Unauthorized
from roadhazard.observability.metrics import (
    change_open_streams,
    count_stream_frame_received,
    count_stream_frames,
)
from roadhazard.ratelimit import RateLimiter, caller_identity, count_request
from roadhazard.realtime.protocol import (
    CLIENT_LEFT,
    KEY_IN_URL,
    MAX_VIOLATIONS,
    PONG,
    ClientMessage,
    CloseCode,
    Closing,
    MessageDecoder,
    ReceivedFrame,
    Refused,
    TooBig,
    error_message,
    frame_answer,
    key_in_url,
    ready_message,
)
from roadhazard.realtime.schemas import AuthMessage, FrameId, PingMessage
from roadhazard.realtime.slot import LatestFrameSlot
from roadhazard.sessions.schemas import SessionState
from roadhazard.sessions.service import SessionService

log = structlog.get_logger(__name__)

# A client that has not read its answers for this long (its socket buffer is full) is let go.
SEND_TIMEOUT_S = 10.0
SERVER_ERROR = Closing(CloseCode.SERVER_ERROR, "server error; quote the connection id")
AUTH_FIRST = f'{MISSING_KEY} Or send {{"type": "auth", "api_key": ...}} as the first message.'
# A refusal of the session ends the stream; any other failed frame is answered and it goes on.
_SESSION_CLOSINGS = {
    404: Closing(CloseCode.UNKNOWN_SESSION, "no such session"),
    409: Closing(CloseCode.SESSION_ENDED, "the session has ended; start a new one"),
}
_ADMISSION_CLOSINGS = {
    **_SESSION_CLOSINGS,
    401: Closing(CloseCode.POLICY_VIOLATION, "a valid API key is needed"),
    403: Closing(CloseCode.POLICY_VIOLATION, "the API key may not send frames"),
    503: Closing(CloseCode.TRY_AGAIN_LATER, "the session cannot be checked now; retry"),
}


@dataclass(frozen=True)
class StreamServices:
    sessions: SessionService
    access: AccessPolicy
    limiter: RateLimiter


@dataclass(frozen=True)
class StreamLimits:
    idle_timeout_s: float
    max_image_bytes: int
    retry_after_s: int
    # How long the frame in processing may take to be answered once the stream is closing.
    finish_limit_s: float


class FrameStream:
    def __init__(
        self,
        websocket: WebSocket,
        session_id: str,
        connection_id: str,
        services: StreamServices,
        limits: StreamLimits,
    ) -> None:
        self._ws = websocket
        self._session_id = session_id
        self._connection_id = connection_id
        self._services = services
        self._limits = limits
        self._decoder = MessageDecoder(limits.max_image_bytes)
        self._slot: LatestFrameSlot[ReceivedFrame] = LatestFrameSlot()
        self._closing: Closing | None = None
        self._decided = asyncio.Event()
        self._closed = asyncio.Event()
        self._caller: Principal | None = None
        self._identity = ""
        self._processing = False
        self._messages = 0
        self._violations = 0
        self._frames: Counter[str] = Counter()

    async def serve(self) -> None:
        """Runs the stream until it ends; the connection is accepted already."""
        started = time.monotonic()
        change_open_streams(+1)
        try:
            await self._run()
        finally:
            change_open_streams(-1)
            self._closed.set()
            closing = self._closing or SERVER_ERROR
            log.info(
                "stream_closed",
                code=closing.code,
                reason=closing.reason,
                seconds=round(time.monotonic() - started, 1),
                **self._frames,
            )

    def go_away(self) -> None:
        self._decide(Closing(CloseCode.GOING_AWAY, "the server is shutting down; reconnect"))

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def _decide(self, closing: Closing) -> None:
        if self._closing is None:
            self._closing = closing
            self._decided.set()

    async def _run(self) -> None:
        receiver = asyncio.create_task(self._receive(), name="stream-receiver")
        processor = asyncio.create_task(self._process(), name="stream-processor")
        try:
            await self._decided.wait()
        finally:
            receiver.cancel()
            self._count_dropped(self._slot.close())
            try:
                # The frame in hand is answered, unless it takes too long.
                await asyncio.wait({processor}, timeout=self._limits.finish_limit_s)
            finally:
                processor.cancel()
                await asyncio.gather(receiver, processor, return_exceptions=True)
            await self._close_socket()

    # The receiver

    async def _receive(self) -> None:
        try:
            closing = await self._admit() or await self._read_frames()
        except Exception:
            log.exception("stream_receiver_failed")
            closing = SERVER_ERROR
        self._decide(closing)

    async def _admit(self) -> Closing | None:
        """The caller and its session, checked as for `POST .../frames`; then `ready`."""
        if key_in_url(self._ws):
            refusal = {400: Closing(CloseCode.POLICY_VIOLATION, "an API key in the URL")}
            return await self._refuse(BadRequest(KEY_IN_URL), None, refusal)
        key = presented_key(self._ws)
        if key is None and not self._services.access.open_access:
            message = await self._next_message()
            if message is None or message["type"] == "websocket.disconnect":
                return self._ended_by(message)
            key = self._key_in(message)
        try:
            caller = authorise(self._services.access, key, Role.REPORTER, missing_key=AUTH_FIRST)
            session = await self._services.sessions.stats(self._session_id, caller)
            if session.state is SessionState.ENDED:
                raise Conflict(f"Session {self._session_id} has ended; start a new session.")
        except Exception as exc:  # noqa: BLE001 - judged as HTTP's handlers judge it, or raised
            return await self._refuse(exc, None, _ADMISSION_CLOSINGS) or SERVER_ERROR
        self._caller = caller
        self._identity = caller_identity(self._ws, caller)
        limits = self._limits
        await self._send(
            ready_message(
                self._session_id,
                self._connection_id,
                max_image_bytes=limits.max_image_bytes,
                idle_timeout_s=limits.idle_timeout_s,
            )
        )
        return None

    def _key_in(self, message: Message) -> str | None:
        """The key of an auth message; None for any other message (refused by `authorise`)."""
        self._messages += 1
        with suppress(Refused, TooBig):
            decoded = self._decoder.decode(message)
            if isinstance(decoded, AuthMessage):
                return decoded.api_key
        return None

    async def _read_frames(self) -> Closing:
        while True:
            message = await self._next_message()
            if message is None or message["type"] == "websocket.disconnect":
                return self._ended_by(message)
            self._messages += 1
            try:
                closing = await self._take(self._decoder.decode(message))
            except TooBig as exc:
                return Closing(CloseCode.MESSAGE_TOO_BIG, str(exc))
            except Refused as refused:
                closing = await self._refused(refused)
            if closing is not None:
                return closing

    async def _take(self, message: ClientMessage | None) -> Closing | None:
        if isinstance(message, ReceivedFrame):
            self._violations = 0
            self._frames["received"] += 1
            count_stream_frame_received()
            self._count_dropped(self._slot.put(message))
        elif isinstance(message, PingMessage):
            await self._send(PONG)
        elif isinstance(message, AuthMessage) and not self._admits_again(message):
            raise Refused(
                Unauthorized(
                    "An auth message is taken only as the first message, with the key the"
                    " connection was opened with."
                )
            )
        return None

    def _admits_again(self, message: AuthMessage) -> bool:
        """A first message that authenticates whom the header did (or anyone, without keys)."""
        if self._messages > 1:
            return False
        try:
            return authorise(self._services.access, message.api_key, Role.REPORTER) == self._caller
        except RoadhazardError:
            return False

    async def _refused(self, refused: Refused) -> Closing | None:
        self._violations += 1
        await self._refuse(refused.error, refused.frame_id, {})
        if self._violations >= MAX_VIOLATIONS:
            return Closing(CloseCode.POLICY_VIOLATION, f"{MAX_VIOLATIONS} bad messages in a row")
        return None

    async def _next_message(self) -> Message | None:
        """The next message; None once the client has been idle for the idle timeout (while
        a frame of its own waits or is processed, it is not idle)."""
        while True:
            try:
                async with asyncio.timeout(self._limits.idle_timeout_s):
                    return await self._ws.receive()
            except TimeoutError:
                if not (self._processing or self._slot.pending):
                    return None

    def _ended_by(self, message: Message | None) -> Closing:
        if message is None:
            return Closing(CloseCode.IDLE, f"no message for {self._limits.idle_timeout_s:g} s")
        return CLIENT_LEFT

    # The processor

    async def _process(self) -> None:
        try:
            while (frame := await self._slot.take()) is not None:
                self._processing = True
                try:
                    closing = await self._answer(frame)
                finally:
                    self._processing = False
                if closing is not None:
                    self._decide(closing)
                    return
        except Exception:
            log.exception("stream_processor_failed")
            self._decide(SERVER_ERROR)

    async def _answer(self, frame: ReceivedFrame) -> Closing | None:
        """Processes one frame as `POST .../frames` does, counted in the same rate limit."""
        assert self._caller is not None
        frame_id = frame.metadata.frame_id
        try:
            await count_request(self._services.limiter, "frames", self._identity)
            response = await self._services.sessions.process_frame(
                self._session_id, frame.image, frame.metadata, self._caller
            )
        except Exception as exc:  # noqa: BLE001 - judged as HTTP's handlers judge it, or raised
            self._frames["failed"] += 1
            count_stream_frames("failed")
            return await self._refuse(exc, frame_id, _SESSION_CLOSINGS)
        self._frames["processed"] += 1
        count_stream_frames("processed")
        await self._send(frame_answer(response, frame_id, self._slot.take_dropped()))
        return None

    # Both

    async def _refuse(
        self, exc: Exception, frame_id: FrameId | None, closings: dict[int, Closing]
    ) -> Closing | None:
        """Answers `exc` as the HTTP endpoint would, as an error message; the closing its
        status calls for, if any. An unexpected exception is raised again."""
        answer = judge_failure(self._ws, exc, retry_after_s=self._limits.retry_after_s)
        if answer is None:
            raise exc
        await self._send(error_message(self._ws, answer, frame_id))
        return closings.get(answer.status)

    async def _send(self, text: str) -> None:
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await self._ws.send_text(text)
        except TimeoutError:
            self._decide(Closing(CloseCode.POLICY_VIOLATION, "the answers are not being read"))
        except (WebSocketDisconnect, WebSocketDisconnected):
            self._decide(CLIENT_LEFT)

    async def _close_socket(self) -> None:
        closing = self._closing or SERVER_ERROR
        if closing.code is None:
            return
        with suppress(WebSocketDisconnect, WebSocketDisconnected, TimeoutError):
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await self._ws.close(closing.code, closing.reason)

    def _count_dropped(self, dropped: bool) -> None:
        if dropped:
            self._frames["dropped"] += 1
            count_stream_frames("dropped")
