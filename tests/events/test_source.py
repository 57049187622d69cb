"""The feed's source, on both engines: lanes read in order, pending first, acknowledged once;
trimming reports what a consumer group lost; the outbox entry carries what docs/events.md says."""

from __future__ import annotations

import time

import pytest

from liveroom.engine.base import Engine
from liveroom.features.events import feed_source
from liveroom.features.events.source_memory import MemoryFeedSource
from tests.conftest import EVERY_ENGINE
from tests.timeouts import eventually

#: on the Cluster too: every outbox key and script sits in its room's slot
pytestmark = pytest.mark.parametrize("engine_kind", EVERY_ENGINE, indirect=True)


async def mute(engine: Engine, room: str, *users: str) -> None:
    for user in users:
        await engine.mute(room, user, time.time() + 60)


async def test_a_lane_reads_in_order_and_gives_unacknowledged_back_first(engine: Engine) -> None:
    """Three events; a read of two, unacknowledged, comes back before the third."""
    source = feed_source(engine)
    await source.open_lane("r1", "e1", 0.0)
    await mute(engine, "r1", "a", "b", "c")
    first = await source.read("r1", "e1", "n1", 2)
    assert [e.event()["data"]["user"] for e in first.entries] == ["a", "b"]
    again = await source.read("r1", "e1", "n1", 10)
    assert [e.id for e in again.entries] == [e.id for e in first.entries]
    await source.ack("r1", "e1", [e.id for e in first.entries])
    rest = await source.read("r1", "e1", "n1", 10)
    assert [e.event()["data"]["user"] for e in rest.entries] == ["c"]
    await source.ack("r1", "e1", [rest.entries[0].id])
    assert (await source.read("r1", "e1", "n1", 10)).entries == []
    assert "r1" in await source.rooms()


async def test_an_event_has_id_type_room_time_and_payload(engine: Engine) -> None:
    """user.muted as a backend receives it: id ``room:entry``, seconds, JSON payload."""
    source = feed_source(engine)
    await source.open_lane("r2", "e1", 0.0)
    until = round(time.time() + 60, 3)
    await engine.mute("r2", "u9", until)
    (entry,) = (await source.read("r2", "e1", "n1", 10)).entries
    event = entry.event()
    assert event["id"] == f"r2:{entry.id}" and event["type"] == "user.muted"
    assert event["room"] == "r2" and abs(event["timestamp"] - time.time()) < 5
    assert event["data"] == {"user": "u9", "until": until}


async def test_a_new_lane_starts_after_what_came_before_it(engine: Engine) -> None:
    """An endpoint added later does not get the events appended before it existed."""
    source = feed_source(engine)
    await mute(engine, "r3", "old")
    start = time.time() + 0.002
    await source.open_lane("r3", "e1", start)
    # the next event must be stamped after the lane's start (milliseconds): poll the clock
    await eventually(lambda: time.time() > start + 0.001, interval=0.001)
    await mute(engine, "r3", "new")
    entries = (await source.read("r3", "e1", "n1", 10)).entries
    assert [e.event()["data"]["user"] for e in entries] == ["new"]


async def test_a_node_takes_over_what_another_read(engine: Engine) -> None:
    """What owner n1 read and never acknowledged is claimed by n2 (none on memory: one
    process delivers everything)."""
    source = feed_source(engine)
    await source.open_lane("r4", "e1", 0.0)
    await mute(engine, "r4", "a", "b")
    read = await source.read("r4", "e1", "n1", 10)
    assert len(read.entries) == 2
    taken = await source.claim("r4", "e1", "n2", 0.0)
    if isinstance(source, MemoryFeedSource):
        assert taken == 0
        return
    assert taken == 2
    mine = await source.read("r4", "e1", "n2", 10)
    assert [e.id for e in mine.entries] == [e.id for e in read.entries]


async def test_dead_letters_list_newest_first_and_unbury(engine: Engine) -> None:
    """Buried events are listed with their endpoint and error, found by id, and forgotten."""
    source = feed_source(engine)
    await source.open_lane("r5", "e1", 0.0)
    await mute(engine, "r5", "a", "b")
    entries = (await source.read("r5", "e1", "n1", 10)).entries
    await source.bury("e1", entries, "status 400", 1)
    dead = await source.dead(10)
    assert [d.event["data"]["user"] for d in dead] == ["b", "a"]
    assert dead[0].endpoint == "e1" and dead[0].error == "status 400" and dead[0].attempts == 1
    assert await source.dead_count() == 2
    assert [d.id for d in await source.dead_by_id([dead[1].id])] == [dead[1].id]
    assert [d.id for d in await source.dead(10, before=dead[0].id)] == [dead[1].id]
    await source.unbury([dead[0].id])
    assert [d.id for d in await source.dead(10)] == [dead[1].id]


async def test_the_trim_reports_what_a_group_lost(engine: Engine) -> None:
    """Ten events, two read and acknowledged, the outbox cut to three: the group lost five,
    and says so; the three kept are still delivered."""
    source = feed_source(engine)
    await source.open_lane("r6", "e1", 0.0)
    await mute(engine, "r6", *"abcdefghij")
    read = await source.read("r6", "e1", "n1", 2)
    await source.ack("r6", "e1", [e.id for e in read.entries])
    trimmed = await source.trim(3, 0)
    assert trimmed.removed == 7 and trimmed.behind == {("r6", "wh:e1"): 5}
    rest = (await source.read("r6", "e1", "n1", 10)).entries
    assert [e.event()["data"]["user"] for e in rest] == ["h", "i", "j"]
    assert (await source.trim(3, 0)).behind == {}


async def test_a_room_starting_and_ending_leaves_its_events(engine: Engine) -> None:
    """First settings: room.started; ended: room.ended; again ended: nothing; reopened:
    room.started."""
    source = feed_source(engine)
    await source.open_lane("r7", "e1", 0.0)
    for ended in (False, False, True, True, False):
        await engine.put_room_info("r7", {"title": "Tea time", "ended": ended})
    entries = (await source.read("r7", "e1", "n1", 10)).entries
    assert [e.type for e in entries] == ["room.started", "room.ended", "room.started"]
    assert entries[0].event()["data"] == {"title": "Tea time"}


async def test_the_trim_by_age_reports_what_a_group_lost(engine: Engine) -> None:
    """Events past the age bound are trimmed: a group that had not read them is told at the
    trim, one that had read them without acknowledging at its next read."""
    source = feed_source(engine)
    await source.open_lane("r8", "unread", 0.0)
    await source.open_lane("r8", "pending", 0.0)
    await mute(engine, "r8", "a", "b")
    read = await source.read("r8", "pending", "n1", 10)
    newest = max(e.ts_ms for e in read.entries)
    await eventually(lambda: time.time() * 1000 > newest + 30, timeout=2, interval=0.005)
    trimmed = await source.trim(1000, 0.02)
    assert trimmed.removed == 2 and trimmed.behind == {("r8", "wh:unread"): 2}
    again = await source.read("r8", "pending", "n1", 10)
    assert again.entries == [] and again.skipped == 2
    assert (await source.read("r8", "unread", "n1", 10)).entries == []
