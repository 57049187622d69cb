"""Room settings and the snapshot a viewer gets on join."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from liveroom.features.rooms.rules import public_info, validate_room
from liveroom.features.rooms.store import SettingsStore
from liveroom.protocol import event, room_event_body

#: a feature's part of every snapshot (``Feature.snapshot``): fields merged into the event
SnapshotPart = Callable[[str], Awaitable[dict[str, Any]]]


class Directory:
    """Room settings (shared through the engine) and snapshot assembly. One per node.

    It is the node's ``RoomDirectory`` (``liveroom.context``) and its ``RoomSnapshots``: the
    features' parts of the snapshot are listed in ``snapshot_parts`` by the node that runs them.
    ``now`` is the wall clock (seconds since the epoch) that stamps a settings change.
    """

    def __init__(
        self, engine: SettingsStore, settings: Any, now: Callable[[], float] = time.time
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.now = now
        self.snapshot_parts: list[SnapshotPart] = []
        self._shared: dict[str, tuple[float, asyncio.Future[tuple[int, str, bytes]], int]] = {}

    async def info(self, room: str) -> dict[str, Any]:
        """The room's settings, defaults filled in. Raises ``EngineUnavailable``."""
        info = await self.engine.room_info(room)
        return info if info is not None else self.default(room)

    def default(self, room: str) -> dict[str, Any]:
        """The settings of a room no backend has set up."""
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
        info["updated"] = self.now()
        await self.engine.put_room_info(room, info)
        await self.engine.publish(room, room_event_body("room", room=public_info(info)))
        return info

    async def snapshot(
        self, room: str, *, reset: bool = False, version: int = 0
    ) -> tuple[int, str, bytes]:
        """The snapshot's offset and epoch, and the snapshot event: everything a viewer needs
        to draw the room now.

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

    async def _build(self, room: str, *, reset: bool) -> tuple[int, str, bytes]:
        state = await self.engine.snapshot(room, self.settings.snapshot_comments)
        info = state.info if state.info is not None else self.default(room)
        body: dict[str, Any] = {
            "room": public_info(info),
            "offset": state.offset,
            "epoch": state.epoch,
            "reset": reset,
            "online": state.online,
            "peak": state.counters.get("peak_online", 0),
            "likes": state.counters.get("likes", 0),
            "comments": [orjson.Fragment(c) for c in state.comments],
        }
        for part in self.snapshot_parts:
            body.update(await part(room))
        return state.offset, state.epoch, event("snapshot", **body)
