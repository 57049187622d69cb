"""The tests' WebSocket client for the liveroom protocol: websockets' asyncio client (and its sync
client, for tests that run outside an event loop). Tests that need raw bytes use ``tests.wsraw``."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

import orjson
import websockets
import websockets.sync.client
from websockets.asyncio.client import ClientConnection

from liveroom import auth
from tests.servers import SECRET
from tests.timeouts import scaled

Event = dict[str, Any]


def token(
    user: str, room: str = "r1", role: str = "viewer", ttl: float = 3600, name: str | None = None
) -> str:
    return auth.mint(SECRET, user, name=name, room=room, role=role, ttl_s=ttl)


def join_url(
    ws_url: str,
    room: str = "r1",
    user: str | None = "alice",
    role: str = "viewer",
    offset: int | None = None,
    tok: str | None = None,
    epoch: str | None = None,
) -> str:
    """The URL that joins ``room``: with ``tok``, or a token minted for ``user`` (none when both
    are None: an anonymous viewer); resuming from ``offset`` of ``epoch`` when given."""
    query = f"?room={room}"
    if tok is None and user is not None:
        tok = token(user, room, role)
    if tok:
        query += f"&token={tok}"
    if offset is not None:
        query += f"&offset={offset}"
    if epoch is not None:
        query += f"&epoch={epoch}"
    return ws_url + query


def connect_sync(
    ws_url: str, room: str = "r1", user: str | None = "alice", role: str = "viewer", **kwargs: Any
) -> websockets.sync.client.ClientConnection:
    """websockets' blocking client joined to ``room``, for tests outside an event loop."""
    url = join_url(ws_url, room, user, role)
    return websockets.sync.client.connect(url, open_timeout=scaled(10), **kwargs)


class LiveClient:
    """Connects, reads every frame into ``events`` and answers ``command`` with its reply."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.text_messages = 0
        self.binary_messages = 0
        self.events: list[Event] = []
        self.replies: dict[str, Event] = {}
        self.changed = asyncio.Event()
        self.closed: tuple[int | None, str] | None = None
        self._ids = itertools.count(1)
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(
        cls,
        ws_url: str,
        room: str = "r1",
        user: str | None = "alice",
        role: str = "viewer",
        offset: int | None = None,
        tok: str | None = None,
        epoch: str | None = None,
        **kwargs: Any,
    ) -> LiveClient:
        url = join_url(ws_url, room, user, role, offset, tok, epoch)
        ws = await websockets.connect(url, open_timeout=scaled(10), **kwargs)
        return cls(ws)

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                arrived = time.time()
                if isinstance(message, str):
                    self.text_messages += 1
                else:
                    self.binary_messages += 1
                for item in orjson.loads(message):
                    item["_arrived"] = arrived
                    self.events.append(item)
                    if item.get("type") == "reply" and item.get("id") is not None:
                        self.replies[item["id"]] = item
                self.changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed = (self.ws.close_code, self.ws.close_reason or "")
            self.changed.set()

    async def wait(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until ``predicate()`` is truthy; each new frame wakes the check."""

        async def loop() -> Any:
            while True:
                result = predicate()
                if result:
                    return result
                self.changed.clear()
                await self.changed.wait()

        return await asyncio.wait_for(loop(), scaled(timeout))

    async def event(self, kind: str, timeout: float = 5.0, **match: Any) -> Event:
        def find() -> Event | None:
            for e in self.events:
                if e.get("type") == kind and all(e.get(k) == v for k, v in match.items()):
                    return e
            return None

        return await self.wait(find, timeout)

    def of_type(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.get("type") == kind]

    def offsets(self) -> list[int]:
        return [
            e["offset"]
            for e in self.events
            if "offset" in e
            and e.get("type") != "snapshot"
            and e.get("type") not in ("reply", "resumed", "skipped", "resync")
        ]

    def position(self) -> tuple[int, str]:
        """What a client hands back to resume: the newest room offset it holds and that offset's
        epoch (from its snapshot or ``resumed``). A ``resync`` leaves the client's state stale:
        it resumes from what it held before, and gets a reset snapshot or an exact resume."""
        offset, epoch = 0, ""
        for e in self.events:
            kind = e.get("type")
            if kind == "resync":
                break
            if kind in ("snapshot", "resumed"):
                offset, epoch = int(e["offset"]), str(e["epoch"])
            elif kind == "skipped":
                offset = max(offset, int(e["to"]))
            elif "offset" in e and kind != "reply":
                offset = max(offset, int(e["offset"]))
        return offset, epoch

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def command(self, kind: str, timeout: float = 5.0, **fields: Any) -> Event:
        rid = f"c{next(self._ids)}"
        await self.ws.send(orjson.dumps({"type": kind, "id": rid, **fields}).decode())
        return await self.wait(lambda: self.replies.get(rid), timeout)

    async def closed_with(self, timeout: float = 10.0) -> tuple[int | None, str]:
        return await self.wait(lambda: self.closed, timeout)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        try:
            await self._reader
        except (asyncio.CancelledError, Exception):
            pass
