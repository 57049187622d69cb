"""Room numbers for the host console and the backend: online, peak, likes, comments, funnel."""

from __future__ import annotations

from typing import Any

from liveroom.engine.base import Engine


class Stats:
    """Reads a room's counters. Writers are the features themselves, through the engine."""

    def __init__(self, engine: Engine, settings: Any) -> None:
        self.engine = engine
        self.settings = settings

    async def viewer_joined(self, room: str, user: str) -> None:
        await self.engine.incr_unique(room, "viewers", user)

    async def room(self, room: str) -> dict[str, Any]:
        state = await self.engine.snapshot(room, 0)
        counters = state.counters
        return {
            "room": room,
            "offset": state.offset,
            "online": state.online,
            "peak_online": counters.get("peak_online", 0),
            "likes": counters.get("likes", 0),
            "comments": counters.get("comments", 0),
            "shed": counters.get("shed", 0),
            "unique_viewers": await self.engine.unique_count(room, "viewers"),
            "counters": counters,
        }
