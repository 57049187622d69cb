"""Room settings and the snapshot a viewer gets on join."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from liveroom.engine.base import Engine
from liveroom.errors import CommandError, ErrorCode
from liveroom.protocol import event, room_event_body

#: settings a backend may set on a room, with their types
ROOM_FIELDS: dict[str, type | tuple[type, ...]] = {
    "title": str,
    "host_name": str,
    "cover": str,
    "allow_anonymous": bool,
    "sensitive_words": list,
    "sensitive_mode": str,
    "comment_cap": int,
    "ended": bool,
}

SnapshotPart = Callable[[str], Awaitable[dict[str, Any]]]


def validate_room(body: Any) -> dict[str, Any]:
    """Check a room settings update from the API. Unknown fields are refused, not dropped."""
    if not isinstance(body, dict):
        raise CommandError(ErrorCode.BAD_REQUEST, "room settings are a JSON object")
    out: dict[str, Any] = {}
    for key, value in body.items():
        kind = ROOM_FIELDS.get(key)
        if kind is None:
            raise CommandError(ErrorCode.BAD_REQUEST, f"unknown room field {key[:40]!r}")
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            raise CommandError(ErrorCode.BAD_REQUEST, f"{key} has the wrong type")
        if isinstance(value, str) and len(value) > 500:
            raise CommandError(ErrorCode.TOO_LONG, f"{key} is too long")
        out[key] = value
    words = out.get("sensitive_words")
    if words is not None:
        if len(words) > 1000 or not all(isinstance(w, str) and 0 < len(w) <= 50 for w in words):
            raise CommandError(
                ErrorCode.BAD_REQUEST, "sensitive_words: up to 1000 strings of 1 to 50 characters"
            )
    mode = out.get("sensitive_mode")
    if mode is not None and mode not in ("mask", "self"):
        raise CommandError(ErrorCode.BAD_REQUEST, "sensitive_mode is mask or self")
    cap = out.get("comment_cap")
    if cap is not None and not 0 <= cap <= 100_000:
        raise CommandError(ErrorCode.BAD_REQUEST, "comment_cap is between 0 and 100000")
    return out


class Rooms:
    """Room settings (shared through the engine) and snapshot assembly."""

    def __init__(self, engine: Engine, settings: Any) -> None:
        self.engine = engine
        self.settings = settings
        self.snapshot_parts: list[SnapshotPart] = []
        self._shared: dict[str, tuple[float, asyncio.Future[tuple[int, bytes]], int]] = {}

    async def info(self, room: str) -> dict[str, Any]:
        info = await self.engine.room_info(room)
        return info if info is not None else self.default(room)

    def default(self, room: str) -> dict[str, Any]:
        return {
            "id": room,
            "title": room,
            "allow_anonymous": self.settings.allow_anonymous,
            "sensitive_words": [],
            "sensitive_mode": "mask",
            "comment_cap": self.settings.room_comment_cap,
            "ended": False,
        }

    async def update(self, room: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply settings and tell every node and viewer (a ``room`` event)."""
        info = await self.info(room)
        info.update(validate_room(changes))
        info["id"] = room
        info["updated"] = time.time()
        await self.engine.put_room_info(room, info)
        await self.engine.publish(room, room_event_body("room", room=public_info(info)))
        return info

    async def snapshot(
        self, room: str, *, reset: bool = False, version: int = 0
    ) -> tuple[int, bytes]:
        """The snapshot event and its offset: everything a viewer needs to draw the room now.

        Viewers joining within one tick share one snapshot: the first builds it, the others
        await the same build. A join storm then costs one engine read per room per tick, not
        one per viewer. A shared snapshot is at most a tick old; the hub brings each viewer
        level from its offset, so nothing between the snapshot and the join is missed.
        State that travels outside the offsets (counts such as a lucky bag's participants,
        sent as state events only when they change) is kept fresh by ``version``, the room's
        count of state events: a snapshot built before the latest one is not shared.
        """
        if reset:
            return await self._build(room, reset=True)
        now = time.monotonic()
        shared = self._shared.get(room)
        if (
            shared is None
            or now > shared[0]
            or shared[2] != version
            or (shared[1].done() and shared[1].exception())
        ):
            future = asyncio.ensure_future(self._build(room, reset=False))
            shared = (now + self.settings.tick_ms / 1000, future, version)
            self._shared[room] = shared
            if len(self._shared) > 4096:
                self._shared = {k: v for k, v in self._shared.items() if v[0] >= now}
        return await asyncio.shield(shared[1])

    async def _build(self, room: str, *, reset: bool) -> tuple[int, bytes]:
        state = await self.engine.snapshot(room, self.settings.snapshot_comments)
        info = state.info if state.info is not None else self.default(room)
        body: dict[str, Any] = {
            "room": public_info(info),
            "offset": state.offset,
            "reset": reset,
            "online": state.online,
            "peak": state.counters.get("peak_online", 0),
            "likes": state.counters.get("likes", 0),
            "comments": [orjson.Fragment(c) for c in state.comments],
        }
        for part in self.snapshot_parts:
            body.update(await part(room))
        return state.offset, event("snapshot", **body)


def public_info(info: dict[str, Any]) -> dict[str, Any]:
    """Room settings viewers may see: the sensitive-word list stays on the server."""
    return {k: v for k, v in info.items() if k not in ("sensitive_words",)}
