"""The memory outbox at scale: a read starts at its cursor (no walk over the entries after it),
and the feed's periodic trim bounds every room's outbox, idle ones too, by the rules of
``feed_trim.lua``."""

from __future__ import annotations

import math
import sys

import pytest

from liveroom.engine import outbox as outbox_module
from liveroom.engine.outbox import MemoryOutbox, parse_id
from liveroom.features.events.source_memory import MemoryFeedSource
from tests.clocks import SteppedClock

T0 = 1_700_000_000.0


def fill(
    outbox: MemoryOutbox, clock: SteppedClock, room: str, n: int, per_ms: int = 3
) -> list[str]:
    """Append ``n`` events to ``room``, ``per_ms`` in each millisecond; their ids."""
    ids = []
    for i in range(n):
        if i % per_ms == 0:
            clock.now += 0.001
        ids.append(outbox.append(room, "user.muted", {"user": str(i), "until": 0}))
    return ids


def test_reads_after_any_cursor_match_a_full_scan() -> None:
    """Over thousands of entries, several per millisecond and the oldest trimmed on append,
    ``after`` gives for every cursor exactly what a scan of the kept ids gives."""
    clock = SteppedClock(T0)
    outbox = MemoryOutbox(clock, max_len=1000)
    kept = fill(outbox, clock, "r", 3000)[-1000:]
    assert outbox.first("r") == kept[0] and outbox.length("r") == 1000
    first_ms, _ = parse_id(kept[0])
    last_ms, _ = parse_id(kept[-1])
    cursors = ["0-0", f"{first_ms - 1}-{2**63}", f"{first_ms}-0", f"{last_ms + 1}-0", *kept]
    cursors += [f"{parse_id(i)[0]}-{2**63}" for i in kept[::7]]
    for cursor in cursors:
        expected = [i for i in kept if parse_id(i) > parse_id(cursor)][:7]
        assert [e.id for e in outbox.after("r", cursor, 7)] == expected, cursor


async def test_a_lane_far_behind_parses_a_few_ids_per_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lane 20,000 entries behind catches up batch by batch, in order, each read parsing
    about log2(n) ids rather than every id between its cursor and the newest."""
    clock = SteppedClock(T0)
    outbox = MemoryOutbox(clock, max_len=100_000)
    source = MemoryFeedSource(outbox, clock)
    await source.open_lane("r", "e1", 0.0)
    ids = fill(outbox, clock, "r", 20_000)
    parsed = [0]

    def counted(entry: str) -> tuple[int, int]:
        parsed[0] += 1
        return parse_id(entry)

    monkeypatch.setattr(outbox_module, "parse_id", counted)
    bound = 2 * math.ceil(math.log2(len(ids))) + 4
    got: list[str] = []
    while True:
        parsed[0] = 0
        read = await source.read("r", "e1", "n1", 100)
        assert parsed[0] <= bound, (len(got), parsed[0])
        if not read.entries:
            break
        assert read.skipped == 0
        got += [e.id for e in read.entries]
        await source.ack("r", "e1", [e.id for e in read.entries])
    assert got == ids


async def test_an_idle_room_is_trimmed_by_age_at_the_periodic_trim() -> None:
    """A room nothing is appended to any more loses its entries past the age bound at the
    feed's trim, and the outbox lets go of them; a lane that had not read them is told."""
    clock = SteppedClock(T0)
    outbox = MemoryOutbox(clock, max_len=100_000, max_age_s=60)
    source = MemoryFeedSource(outbox, clock)
    await source.open_lane("idle", "e1", 0.0)
    fill(outbox, clock, "idle", 5)
    read = await source.read("idle", "e1", "n1", 2)
    await source.ack("idle", "e1", [e.id for e in read.entries])
    held = outbox.after("idle", "0-0", 1)[0]
    refs = sys.getrefcount(held)
    clock.now += 30
    fill(outbox, clock, "busy", 3)
    assert (await source.trim(100_000, 60)).removed == 0
    clock.now += 31
    trimmed = await source.trim(100_000, 60)
    assert trimmed.rooms == 2 and trimmed.removed == 5
    assert trimmed.behind == {("idle", "wh:e1"): 3}
    assert outbox.length("idle") == 0 and outbox.first("idle") is None
    assert sys.getrefcount(held) == refs - 1  # the outbox holds the trimmed entry no more
    assert outbox.length("busy") == 3
    again = await source.read("idle", "e1", "n1", 10)
    assert again.entries == [] and again.skipped == 0
    entry = outbox.append("idle", "user.muted", {"user": "back", "until": 0})
    assert [e.id for e in (await source.read("idle", "e1", "n1", 10)).entries] == [entry]


async def test_entries_trimmed_while_pending_are_lost_at_the_next_read() -> None:
    """Past the age bound: a lane that had not read them is told at the trim, one that had
    read them without acknowledging at its next read (as Redis: XTRIM ignores pending)."""
    clock = SteppedClock(T0)
    outbox = MemoryOutbox(clock, max_len=100_000, max_age_s=3600)
    source = MemoryFeedSource(outbox, clock)
    await source.open_lane("r8", "unread", 0.0)
    await source.open_lane("r8", "pending", 0.0)
    for user in "ab":
        outbox.append("r8", "user.muted", {"user": user, "until": 0})
    assert len((await source.read("r8", "pending", "n1", 10)).entries) == 2
    clock.now += 61
    trimmed = await source.trim(1000, 60)
    assert trimmed.removed == 2 and trimmed.behind == {("r8", "wh:unread"): 2}
    again = await source.read("r8", "pending", "n1", 10)
    assert again.entries == [] and again.skipped == 2
    assert (await source.read("r8", "unread", "n1", 10)).entries == []
    assert (await source.read("r8", "pending", "n1", 10)).skipped == 0
