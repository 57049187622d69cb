"""Viewers joining in the same tick share one snapshot build; a reset is always fresh."""

from __future__ import annotations

import asyncio

import orjson

from liveroom.config import Settings
from liveroom.engine.memory import MemoryEngine
from liveroom.features.rooms.directory import Directory


class CountingEngine(MemoryEngine):
    """The real memory engine, counting snapshot reads."""

    reads = 0

    async def snapshot(self, room, comments):  # type: ignore[no-untyped-def]
        self.reads += 1
        return await super().snapshot(room, comments)


async def test_joins_in_one_tick_share_one_build() -> None:
    """Fifty concurrent snapshot requests for one room read the engine once."""
    engine = CountingEngine(Settings(tick_ms=10_000))
    rooms = Directory(engine, engine.settings)
    results = await asyncio.gather(*(rooms.snapshot("r") for _ in range(50)))
    assert engine.reads == 1
    assert len({body for _, _, body in results}) == 1


async def test_reset_snapshot_is_built_fresh() -> None:
    """A reset snapshot is never a shared one, and says ``reset: true``."""
    engine = CountingEngine(Settings(tick_ms=10_000))
    rooms = Directory(engine, engine.settings)
    await rooms.snapshot("r")
    _, _, body = await rooms.snapshot("r", reset=True)
    assert engine.reads == 2
    assert orjson.loads(body)["reset"] is True


async def test_shared_snapshot_expires_after_a_tick() -> None:
    """With a zero tick every join builds its own snapshot, seeing the newest offset."""
    engine = CountingEngine(Settings(tick_ms=0))
    rooms = Directory(engine, engine.settings)
    first, _, _ = await rooms.snapshot("r")
    await engine.publish("r", b'{"type":"system","text":"x"}')
    second, _, _ = await rooms.snapshot("r")
    assert second == first + 1


async def test_a_state_event_ends_the_sharing() -> None:
    """A snapshot built before the room's latest state event (a count that travels outside
    the offsets) is not handed to a later joiner, even within the tick."""
    engine = CountingEngine(Settings(tick_ms=10_000))
    rooms = Directory(engine, engine.settings)
    await rooms.snapshot("r", version=3)
    await engine.incr("r", "likes", 7)  # a count the snapshot carries, with no new offset
    _, _, same = await rooms.snapshot("r", version=3)
    assert engine.reads == 1 and orjson.loads(same)["likes"] == 0  # shared within the tick
    _, _, fresh = await rooms.snapshot("r", version=4)  # the room sent a state event since
    assert engine.reads == 2 and orjson.loads(fresh)["likes"] == 7
