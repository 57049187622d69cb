"""Listening to a room through an engine, the way a node does."""

from __future__ import annotations

import asyncio
from typing import Any

from liveroom.engine.base import Engine, EventHandler


async def subscribe(engine: Engine, room: str, handler: EventHandler) -> None:
    """``engine.subscribe``, once a RedisEngine's pub/sub connection is up.

    A subscribe racing the Redis listener's very first command can go unanswered (an engine
    issue, reported); waiting for ``connected`` first keeps these tests out of that race.
    """
    connected = getattr(engine, "connected", None)
    if connected is not None:
        await asyncio.wait_for(connected.wait(), 5)
    await engine.subscribe(room, handler)


class Room:
    """What a room's subscriber receives: public events and private notices."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.private: list[tuple[str, dict[str, Any]]] = []
        self.raw: list[bytes] = []

    def __call__(self, room: str, payload: bytes) -> None:
        import orjson

        self.raw.append(payload)
        if payload.startswith(b"@"):
            user, _, body = payload[1:].partition(b"\n")
            self.private.append((user.decode(), orjson.loads(body)))
        else:
            self.events.append(orjson.loads(payload))

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]
