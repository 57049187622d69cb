"""What rooms need of shared state, all of it from the core engine (``Engine`` satisfies
``SettingsStore``; mypy checks it where ``Rooms`` builds its ``Directory``).

A snapshot reads the room's settings, recent comments, counters and online count in one
consistent step (``snapshot``: ``liveroom/engine/lua/snapshot.lua`` on Redis), so the settings
stay in the engine's ``RoomStore`` rather than in a store of the feature's own.
"""

from __future__ import annotations

from typing import Any, Protocol

from liveroom.engine.base import RoomState


class SettingsStore(Protocol):
    async def room_info(self, room: str) -> dict[str, Any] | None: ...

    async def put_room_info(self, room: str, info: dict[str, Any]) -> None: ...

    async def publish(self, room: str, body: bytes) -> bytes: ...

    async def snapshot(self, room: str, comments: int) -> RoomState: ...
