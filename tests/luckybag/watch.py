"""Listening to a room through an engine, the way a node does."""

from __future__ import annotations

from typing import Any

from liveroom.engine.base import EPOCH_NOTICE, Engine, EventHandler


async def subscribe(engine: Engine, room: str, handler: EventHandler) -> None:
    """Subscribe ``handler`` to ``room`` as the hub would (then read the stream's head, which
    gives a Redis stream its epoch)."""
    await engine.subscribe(room, handler)
    await engine.head(room)


class Room:
    """What a room's subscriber receives: public events, private notices and epoch notices."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.private: list[tuple[str, dict[str, Any]]] = []
        self.epochs: list[bytes] = []
        self.raw: list[bytes] = []

    def __call__(self, room: str, payload: bytes) -> None:
        import orjson

        if payload.startswith(EPOCH_NOTICE):
            self.epochs.append(payload)
            return
        self.raw.append(payload)
        if payload.startswith(b"@"):
            user, _, body = payload[1:].partition(b"\n")
            self.private.append((user.decode(), orjson.loads(body)))
        else:
            self.events.append(orjson.loads(payload))

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]
