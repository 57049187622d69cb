"""What stats need of shared state, all of it from the core engine (``Engine`` satisfies
``CounterStore``; mypy checks it where ``Stats`` builds its ``Numbers``): the room's counters,
which every feature writes through the engine, and its unique-member sets."""

from __future__ import annotations

from typing import Protocol

from liveroom.engine.base import RoomState


class CounterStore(Protocol):
    async def snapshot(self, room: str, comments: int) -> RoomState: ...

    async def incr_unique(self, room: str, name: str, *members: str, count_as: str = "") -> int: ...

    async def unique_count(self, room: str, name: str) -> int: ...
