"""RedisKicks: kicks in Redis, for the Redis engine through its ``RedisCore`` (see
``store.py``). Key, under the room's hash tag like every key of the room::

    {prefix}:{room:<id>}:kicks    hash  user -> when the kick ends (ms since the epoch)

The hash lives as long as its longest kick (``lua/kick.lua`` sets its expiry), so kicks hold
across nodes and node restarts and then go away on their own; an ended kick left in the hash
is ignored on read.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from liveroom.engine.redis_core import RedisCore


class RedisKicks:
    """Satisfies ``KickStore``."""

    def __init__(self, core: RedisCore) -> None:
        self.core = core

    async def kick(self, room: str, user: str, until: float) -> None:
        key = self.core.keys(room).kicks
        await self.core.run("kick", [key], [user, int(until * 1000)], package=__package__)

    async def unkick(self, room: str, user: str) -> None:
        async with self.core.guard():
            await self.core.client.hdel(self.core.keys(room).kicks, user)

    async def until(self, room: str, user: str) -> float | None:
        async with self.core.guard():
            raw = await self.core.client.hget(self.core.keys(room).kicks, user)
        if raw is None:
            return None
        end = int(raw) / 1000
        return end if end > time.time() else None

    async def kicked(self, room: str) -> dict[str, float]:
        async with self.core.guard():
            raw = await self.core.client.hgetall(self.core.keys(room).kicks)
        now = time.time()
        ends = {_text(user): int(ms) / 1000 for user, ms in raw.items()}
        return {user: end for user, end in ends.items() if end > now}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
