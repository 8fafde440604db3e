"""Reading a text/event-stream as a browser's EventSource would, under deadlines: messages
(`id:`, `event:`, `data:`, `retry:`) and comment lines, each block ended by a blank line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

DEADLINE_S = 30.0


@dataclass
class Message:
    id: str | None = None
    event: str | None = None
    data: dict[str, Any] | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def report_id(self) -> str | None:
        return self.data.get("report_id") if self.data else None


class EventReader:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines: AsyncIterator[str] = response.aiter_lines()

    async def next(self, timeout_s: float = DEADLINE_S) -> Message:
        """The next block; raises TimeoutError past the deadline, EOFError when it ended."""
        message = Message()
        async with asyncio.timeout(timeout_s):
            async for line in self._lines:
                if not line:
                    return message
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if not name:
                    message.comments.append(value)
                elif name == "id":
                    message.id = value
                elif name == "event":
                    message.event = value
                elif name == "data":
                    message.data = json.loads(value)
                elif name == "retry":
                    message.retry = int(value)
        raise EOFError("the event stream ended")

    async def to_the_end(self, timeout_s: float = DEADLINE_S) -> None:
        """Reads until the stream ends: raises EOFError then (TimeoutError if it goes on)."""
        while True:
            await self.next(timeout_s)

    async def event(self, timeout_s: float = DEADLINE_S) -> Message:
        """The next message that is an event (not a comment)."""
        while (message := await self.next(timeout_s)).event is None:
            pass
        return message

    async def until(
        self, done: Callable[[Message], bool], timeout_s: float = DEADLINE_S
    ) -> list[Message]:
        """Events up to and including the first for which `done` holds."""
        seen: list[Message] = []
        async with asyncio.timeout(timeout_s):
            while True:
                message = await self.event(timeout_s)
                seen.append(message)
                if done(message):
                    return seen


def about(report_id: str, kind: str = "report.created") -> Callable[[Message], bool]:
    return lambda message: message.event == kind and message.report_id == report_id
