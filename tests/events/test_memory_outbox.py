"""The memory engine's outbox: bounded on append, and a lane behind the bound says so."""

from __future__ import annotations

from liveroom.engine.outbox import MemoryOutbox
from liveroom.features.events.source_memory import MemoryFeedSource


async def test_memory_outbox_bound_is_reported() -> None:
    """A memory lane that falls behind the outbox's count bound loses the oldest and says how
    many."""
    outbox = MemoryOutbox(max_len=3)
    source = MemoryFeedSource(outbox)
    await source.open_lane("r", "e1", 0.0)
    for n in range(10):
        outbox.append("r", "user.muted", {"user": str(n), "until": 0})
    read = await source.read("r", "e1", "n1", 10)
    assert read.skipped == 7
    assert [e.event()["data"]["user"] for e in read.entries] == ["7", "8", "9"]


async def test_memory_outbox_age_bound_is_reported() -> None:
    """Events older than the age bound go at the next append; a lane behind says how many."""
    now = [1_700_000_000.0]
    outbox = MemoryOutbox(clock=lambda: now[0], max_len=100, max_age_s=60)
    source = MemoryFeedSource(outbox, clock=lambda: now[0])
    await source.open_lane("r", "e1", 0.0)
    for n in range(4):
        outbox.append("r", "user.muted", {"user": str(n), "until": 0})
    now[0] += 61
    outbox.append("r", "user.muted", {"user": "late", "until": 0})
    read = await source.read("r", "e1", "n1", 10)
    assert read.skipped == 4
    assert [e.event()["data"]["user"] for e in read.entries] == ["late"]
