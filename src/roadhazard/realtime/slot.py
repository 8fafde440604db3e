"""Latest frame wins: one place for the frame waiting for inference, never a queue.

A dashcam's frames go stale in a second: when inference falls behind, the frame worth
processing next is the newest one, and the ones it replaced are only counted. With the frame
in processing this bounds a stream's frames in memory to two, however fast a client sends.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

Frame = TypeVar("Frame")


class LatestFrameSlot(Generic[Frame]):
    """One stream's pending frame; one receiver puts, one processor takes (one event loop)."""

    def __init__(self) -> None:
        self._frame: Frame | None = None
        self._filled = asyncio.Event()
        self._closed = False
        self._dropped = 0

    @property
    def pending(self) -> bool:
        return self._frame is not None

    def put(self, frame: Frame) -> bool:
        """Makes `frame` the next one; True when it replaced (dropped) one that waited."""
        if self._closed:
            self._dropped += 1
            return True
        replaced = self._frame is not None
        self._dropped += int(replaced)
        self._frame = frame
        self._filled.set()
        return replaced

    async def take(self) -> Frame | None:
        """The newest frame, once there is one; None once the slot is closed and empty."""
        while self._frame is None:
            if self._closed:
                return None
            self._filled.clear()
            await self._filled.wait()
        frame, self._frame = self._frame, None
        return frame

    def take_dropped(self) -> int:
        """Frames dropped since the last call."""
        dropped, self._dropped = self._dropped, 0
        return dropped

    def close(self) -> bool:
        """No more frames: the waiting one, if any, is dropped (True) and `take` ends."""
        dropped = self._frame is not None
        self._dropped += int(dropped)
        self._frame = None
        self._closed = True
        self._filled.set()
        return dropped
