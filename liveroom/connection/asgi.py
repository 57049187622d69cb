"""``AsgiConnection``: one WebSocket on the portable path, through Starlette's ``WebSocket``.

Under any ASGI server other than ``liveroom serve``'s uvicorn (liveroom mounted in a shop's
app), or on a uvicorn outside the tested range (``uvicorn_adapter``), the app has nothing but
ASGI ``send``. Frames then go out from one writer task per connection, behind a queue whose size
the fan-out reads as the connection's outgoing buffer (``get_write_buffer_size``): the same slow
consumer rules, more CPU per viewer. The server's WebSocket implementation builds each frame, so
this connection takes payloads (``post``), not frame bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from starlette.websockets import WebSocket

from liveroom.fanout import PayloadOut

#: how long a Close may wait for the server to take it
CLOSE_TIMEOUT_S = 2.0


class AsgiConnection(PayloadOut):
    """Sends through ASGI ``websocket.send`` (``WebSocket.send_text``) from one writer task."""

    __slots__ = ("ws", "queue", "size", "ready", "task", "closed")

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.queue: deque[bytes] = deque()
        self.size = 0
        self.ready = asyncio.Event()
        self.closed = False
        self.task = asyncio.get_running_loop().create_task(self._writer())

    @property
    def out(self) -> AsgiConnection:
        """Where the room's frames go: this connection (a ``PayloadOut``)."""
        return self

    def post(self, payload: bytes) -> None:
        """Queue ``payload`` (a server frame's JSON) for the writer task."""
        if self.closed:
            return
        self.queue.append(payload)
        self.size += len(payload)
        self.ready.set()

    def send(self, payload: bytes) -> None:
        """A private frame (reply, snapshot, notice) to this connection alone."""
        self.post(payload)

    def get_write_buffer_size(self) -> int:
        return self.size

    async def _writer(self) -> None:
        try:
            while True:
                await self.ready.wait()
                self.ready.clear()
                while self.queue:
                    payload = self.queue.popleft()
                    self.size -= len(payload)
                    await self.ws.send_text(payload.decode())
        except asyncio.CancelledError:
            raise
        except Exception:
            self.closed = True

    def close(self, code: int, reason: str = "") -> None:
        """End the connection: nothing more is sent but a Close (given ``CLOSE_TIMEOUT_S``)."""
        if self.closed:
            return
        self.forget()

        async def _close() -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(code, reason), timeout=CLOSE_TIMEOUT_S)

        asyncio.get_running_loop().create_task(_close())

    def forget(self) -> None:
        """The session is over (or never began): stop the writer; nothing more is sent."""
        self.closed = True
        self.task.cancel()
