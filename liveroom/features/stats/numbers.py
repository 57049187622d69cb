"""Room numbers for the host console and the backend: online, peak, likes, comments, funnel."""

from __future__ import annotations

from typing import Any

from liveroom.features.stats.store import CounterStore


class Numbers:
    """Reads a room's counters. Writers are the features themselves, through the engine.

    It is the node's ``ViewerJoins`` (``liveroom.context``): the connection layer reports each
    join, counted once per user.
    """

    def __init__(self, engine: CounterStore) -> None:
        self.engine = engine

    async def viewer_joined(self, room: str, user: str) -> None:
        await self.engine.incr_unique(room, "viewers", user)

    async def room(self, room: str) -> dict[str, Any]:
        """Every number of ``room``: the counters and unique viewers, online and peak.

        The peak is ``peak``, as in snapshots and ``stats`` events; ``peak_online``, its name
        before, stays as an alias of the same number for readers written against it."""
        state = await self.engine.snapshot(room, 0)
        counters = state.counters
        peak = counters.get("peak_online", 0)
        return {
            "room": room,
            "offset": state.offset,
            "online": state.online,
            "peak": peak,
            "peak_online": peak,
            "likes": counters.get("likes", 0),
            "comments": counters.get("comments", 0),
            "shed": counters.get("shed", 0),
            "unique_viewers": await self.engine.unique_count(room, "viewers"),
            "counters": counters,
        }
