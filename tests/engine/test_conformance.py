"""The Engine conformance suite: written once, run against MemoryEngine, a real Redis and a real
Redis Cluster."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson
import pytest

from liveroom.engine.base import (
    EPOCH_NOTICE,
    CommentRules,
    Engine,
    EventHandler,
    Posted,
    Presence,
    RoomBus,
    RoomStore,
    cap_burst,
    read_epoch_notice,
)
from liveroom.protocol import offset_of, room_event_body
from tests.conftest import EVERY_ENGINE
from tests.timeouts import eventually

pytestmark = pytest.mark.parametrize("engine_kind", EVERY_ENGINE, indirect=True)


def body(n: int, kind: str = "system") -> bytes:
    return room_event_body(kind, n=n)


RULES = CommentRules(user_limit=100, user_window_s=10, room_cap=0)


async def epoch(engine: Engine, room: str = "r1") -> str:
    return (await engine.head(room)).epoch


def events_only(sink: Callable[[bytes], object]) -> EventHandler:
    """A handler that passes room events to ``sink`` and leaves out epoch notices (a Redis
    stream announces the epoch it creates at its first publish or read)."""
    return lambda room, payload: None if payload[:2] == EPOCH_NOTICE else sink(payload)


async def test_engine_satisfies_protocols(engine: Engine) -> None:
    """Both engines implement every capability interface."""
    assert isinstance(engine, RoomBus)
    assert isinstance(engine, Presence)
    assert isinstance(engine, RoomStore)
    assert isinstance(engine, Engine)


async def test_publish_gives_contiguous_offsets(engine: Engine) -> None:
    """Offsets start at 1, rise by one, and lead the stored payload."""
    payloads = [await engine.publish("r1", body(i)) for i in range(5)]
    assert [offset_of(p) for p in payloads] == [1, 2, 3, 4, 5]
    assert payloads[0].startswith(b'{"offset":1,"type":"system"')
    assert orjson.loads(payloads[2])["n"] == 2
    assert (await engine.head("r1")).head == 5
    assert (await engine.head("other")).head == 0


async def test_rooms_have_separate_offsets(engine: Engine) -> None:
    """Each room counts its own offsets."""
    await engine.publish("a", body(1))
    await engine.publish("a", body(2))
    assert offset_of(await engine.publish("b", body(1))) == 1


async def test_subscriber_gets_events_in_offset_order(engine: Engine) -> None:
    """A subscribed handler sees every event once, in offset order."""
    seen: list[int] = []
    await engine.subscribe("r1", events_only(lambda payload: seen.append(offset_of(payload))))
    await asyncio.gather(*(engine.publish("r1", body(i)) for i in range(30)))
    await eventually(lambda: len(seen) == 30)
    assert seen == list(range(1, 31))


async def test_unsubscribe_stops_delivery(engine: Engine) -> None:
    """After unsubscribe the handler hears nothing more."""
    seen: list[bytes] = []
    await engine.subscribe("r1", events_only(seen.append))
    await engine.publish("r1", body(1))
    await eventually(lambda: len(seen) == 1)
    await engine.unsubscribe("r1")
    await engine.publish("r1", body(2))
    marker: list[bytes] = []
    await engine.subscribe("r2", events_only(marker.append))
    await engine.publish("r2", body(3))
    await eventually(lambda: marker)
    assert len(seen) == 1


async def test_history_returns_exactly_the_missed_events(engine: Engine) -> None:
    """history(after) holds offsets after+1..head, complete."""
    for i in range(10):
        await engine.publish("r1", body(i))
    history = await engine.history("r1", 6, 100, await epoch(engine))
    assert history.complete and history.head == 10
    assert [offset_of(p) for p in history.events] == [7, 8, 9, 10]
    current = await engine.history("r1", 10, 100, await epoch(engine))
    assert current.complete and current.events == []


async def test_history_from_the_future_is_incomplete(engine: Engine) -> None:
    """An offset beyond the head is not trusted: the caller must reset."""
    await engine.publish("r1", body(1))
    assert not (await engine.history("r1", 5, 100, await epoch(engine))).complete


async def test_history_is_bounded_by_length(engine: Engine) -> None:
    """Old events are trimmed; asking for them says incomplete, recent ones still come back."""
    for i in range(260):
        await engine.publish("r1", body(i))
    assert not (await engine.history("r1", 0, 10_000, await epoch(engine))).complete
    recent = await engine.history("r1", 230, 10_000, await epoch(engine))
    assert recent.complete
    assert [offset_of(p) for p in recent.events] == list(range(231, 261))


async def test_history_limit_marks_incomplete(engine: Engine) -> None:
    """More missed events than the caller's limit is treated like a trimmed history."""
    for i in range(20):
        await engine.publish("r1", body(i))
    assert not (await engine.history("r1", 0, 10, await epoch(engine))).complete
    assert (await engine.history("r1", 10, 10, await epoch(engine))).complete


async def test_every_stream_has_one_epoch_for_all_its_offsets(engine: Engine) -> None:
    """head, snapshot and history name the same epoch, and publishing does not change it."""
    first = await engine.head("r1")
    assert first.head == 0 and 1 <= len(first.epoch) <= 32
    for i in range(3):
        await engine.publish("r1", body(i))
    now = await engine.head("r1")
    assert now.epoch == first.epoch and now.head == 3
    assert (await engine.snapshot("r1", 5)).epoch == first.epoch
    history = await engine.history("r1", 1, 100, first.epoch)
    assert history.complete and history.epoch == first.epoch


async def test_history_of_another_epoch_is_incomplete(engine: Engine) -> None:
    """Offsets of another epoch are never served: no events, and the stream's own epoch."""
    for i in range(3):
        await engine.publish("r1", body(i))
    current = await epoch(engine)
    history = await engine.history("r1", 1, 100, "elsewhere")
    assert not history.complete and history.events == []
    assert history.epoch == current and history.head == 3


async def test_rotate_is_a_compare_and_set_announced_in_stream_order(engine: Engine) -> None:
    """Rotating the current epoch renews it once, and subscribers hear of it between events."""
    old = await epoch(engine)
    seen: list[bytes] = []
    await engine.subscribe("r1", lambda room, payload: seen.append(payload))
    await engine.publish("r1", body(1))
    moved = await engine.rotate("r1", old)
    assert moved.epoch != old and moved.head == 1
    again = await engine.rotate("r1", old)
    assert again == moved, "a stale rotation leaves the new epoch alone"
    await engine.publish("r1", body(2))
    await eventually(lambda: len(seen) == 3)
    assert seen[1][:2] == EPOCH_NOTICE
    assert read_epoch_notice(seen[1]) == moved
    assert offset_of(seen[0]) == 1 and offset_of(seen[2]) == 2
    assert (await engine.history("r1", 1, 100, moved.epoch)).complete
    assert not (await engine.history("r1", 1, 100, old)).complete


async def test_history_pages_walk_the_missed_events_in_order(engine: Engine) -> None:
    """history_page gives the oldest ``count`` missed events, piece after piece, from either
    end of the stream (a resume far back, a resume near the head)."""
    for i in range(45):
        await engine.publish("r1", body(i))
    now = await epoch(engine)
    after, walked = 3, []
    while True:
        page = await engine.history_page("r1", after, 10, now)
        assert page.complete and page.head == 45
        if not page.events:
            break
        offsets = [offset_of(p) for p in page.events]
        assert offsets == list(range(after + 1, after + 1 + len(offsets)))
        assert len(offsets) <= 10
        walked += offsets
        after = offsets[-1]
    assert walked == list(range(4, 46))
    near = await engine.history_page("r1", 40, 3, now)
    assert [offset_of(p) for p in near.events] == [41, 42, 43]


async def test_history_page_past_the_head_or_the_trim_is_incomplete(engine: Engine) -> None:
    """A page from the future, or from before what history still holds, is incomplete."""
    for i in range(260):
        await engine.publish("r1", body(i))
    now = await epoch(engine)
    assert not (await engine.history_page("r1", 261, 10, now)).complete
    assert not (await engine.history_page("r1", 0, 10, now)).complete
    recent = await engine.history_page("r1", 230, 10, now)
    assert recent.complete and recent.head == 260
    assert [offset_of(p) for p in recent.events] == list(range(231, 241))
    other = await engine.history_page("r1", 230, 10, now + "x")  # another epoch's offset
    assert not other.complete and other.events == [] and other.epoch == now


async def test_post_comment_publishes_and_keeps_recent(engine: Engine) -> None:
    """A comment gets an offset, counts, and shows in the snapshot's recent comments."""
    result = await engine.post_comment("r1", "u1", body(1, "comment"), RULES)
    assert result.status is Posted.OK and result.offset == 1
    state = await engine.snapshot("r1", 10)
    assert state.offset == 1
    assert state.comments == [result.payload]
    assert state.counters["comments"] == 1


async def test_snapshot_keeps_only_the_last_comments(engine: Engine) -> None:
    """The snapshot carries the newest K comments, oldest first."""
    for i in range(40):
        await engine.post_comment("r1", f"u{i}", body(i, "comment"), RULES)
    await engine.publish("r1", body(99))
    state = await engine.snapshot("r1", 5)
    assert [orjson.loads(c)["n"] for c in state.comments] == [35, 36, 37, 38, 39]
    assert state.offset == 41


async def test_muted_user_cannot_comment(engine: Engine) -> None:
    """A mute refuses comments until it ends or is lifted."""
    import time

    await engine.mute("r1", "troll", time.time() + 60)
    assert "troll" in await engine.muted("r1")
    assert (
        await engine.post_comment("r1", "troll", body(1, "comment"), RULES)
    ).status is Posted.MUTED
    await engine.unmute("r1", "troll")
    assert (await engine.post_comment("r1", "troll", body(1, "comment"), RULES)).status is Posted.OK
    assert (await engine.head("r1")).head == 1


async def test_user_rate_limit(engine: Engine) -> None:
    """Past the user's limit in the window, comments are refused and take no offset."""
    rules = CommentRules(user_limit=3, user_window_s=30, room_cap=0)
    statuses = [
        (await engine.post_comment("r1", "u", body(i, "comment"), rules)).status for i in range(5)
    ]
    assert statuses == [Posted.OK] * 3 + [Posted.RATE_LIMITED] * 2
    assert (await engine.head("r1")).head == 3
    other = await engine.post_comment("r1", "v", body(9, "comment"), rules)
    assert other.status is Posted.OK


async def test_room_cap_sheds_but_not_priority(engine: Engine) -> None:
    """Over the room's cap comments are shed; priority comments still pass."""
    rules = CommentRules(user_limit=1000, user_window_s=10, room_cap=5)
    statuses = [
        (await engine.post_comment("r1", f"u{i}", body(i, "comment"), rules)).status
        for i in range(12)
    ]
    # the cap spaces comments 200 ms apart with one of slack: a burst passes only its first,
    # plus one more for each 200 ms the burst itself took
    assert statuses[0] is Posted.OK
    assert Posted.SHED in statuses
    assert statuses.count(Posted.OK) < 6
    priority = CommentRules(user_limit=1000, user_window_s=10, room_cap=5, priority=True)
    assert (
        await engine.post_comment("r1", "host", body(0, "comment"), priority)
    ).status is Posted.OK


async def test_room_cap_spaces_comments_evenly(engine: Engine) -> None:
    """A flood at a 40/s cap passes about four per 100 ms, all through the second."""
    rules = CommentRules(user_limit=10_000, user_window_s=10, room_cap=40)
    assert cap_burst(40) == 4 and cap_burst(5) == 1 and cap_burst(0) == 1
    passed: list[float] = []
    begin = time.monotonic()
    i = 0
    while time.monotonic() - begin < 0.6:
        i += 1
        posted = await engine.post_comment("r2", f"u{i}", body(i, "comment"), rules)
        if posted.status is Posted.OK:
            passed.append(time.monotonic() - begin)
    assert i > 100, "the flood was too thin to test the cap"
    # 0.6 s at 40/s is 24, plus the 4 of slack at the start; a stalled test passes fewer
    assert 8 <= len(passed) <= 29, passed
    assert passed[-1] > 0.3, "the cap passed nothing after the first burst"
    # never more than the slack plus the rate in any 100 ms (+2: a reply's delay on the way back
    # can pull one pass into the window as seen from here)
    for t in passed:
        assert sum(1 for u in passed if t <= u < t + 0.1) <= 4 + 4 + 2, passed


async def test_presence_sums_nodes_and_expires_dead_ones(engine: Engine) -> None:
    """Online is summed over live nodes; a node that stops pulsing drops out after its TTL."""
    await engine.pulse("r1", "node-a", 3, 0)
    pulse = await engine.pulse("r1", "node-b", 2, 0)
    assert pulse.online == 5 and pulse.peak == 5

    async def a_gone() -> bool:
        return (await engine.pulse("r1", "node-b", 2, 0)).online == 2

    await eventually(a_gone, timeout=5)
    assert (await engine.snapshot("r1", 0)).online == 2
    pulse = await engine.pulse("r1", "node-b", 0, 0)
    assert pulse.online == 0 and pulse.peak == 5


async def test_leave_removes_node_at_once(engine: Engine) -> None:
    """A node that leaves a room stops counting immediately."""
    await engine.pulse("r1", "node-a", 4, 0)
    await engine.leave("r1", "node-a")
    assert (await engine.pulse("r1", "node-b", 1, 0)).online == 1


async def test_likes_are_summed_through_pulses(engine: Engine) -> None:
    """Likes reported by several nodes add up to one total."""
    await engine.pulse("r1", "node-a", 1, 10)
    pulse = await engine.pulse("r1", "node-b", 1, 5)
    assert pulse.likes == 15
    assert (await engine.snapshot("r1", 0)).counters["likes"] == 15


async def test_pulse_many_is_every_room_pulsed_in_order(engine: Engine) -> None:
    """A node's pulse of many rooms in one round: the same totals as one pulse each, in order,
    across more rooms than one pipeline holds, and after the scripts were flushed."""
    await engine.pulse("r7", "node-b", 5, 3)  # another node in one of the rooms
    rooms = [f"r{i}" for i in range(1200)]
    reports = [(room, i % 4 + 1, i % 3) for i, room in enumerate(rooms)]
    pulses = await engine.pulse_many("node-a", reports)
    assert len(pulses) == len(rooms)
    for i, (online, peak, likes) in enumerate(pulses):  # a Pulse, or a plain tuple of three
        other = (5, 3) if rooms[i] == "r7" else (0, 0)
        assert online == i % 4 + 1 + other[0], rooms[i]
        assert likes == i % 3 + other[1], rooms[i]
        assert peak == online
    single = await engine.pulse("r1199", "node-a", 1199 % 4 + 1, 0)
    assert (single.online, single.peak, single.likes) == tuple(pulses[-1])
    if hasattr(engine, "client"):  # Redis after a restart or failover: no scripts loaded
        await engine.client.script_flush()
    # node-b's heartbeat again: the 1,200 rooms may outlast its 1 s TTL on a busy machine
    await engine.pulse("r7", "node-b", 5, 0)
    again = await engine.pulse_many("node-a", [("r7", 1, 10), ("r8", 0, 0)])
    assert tuple(again[0]) == (6, 9, 1 + 3 + 10)  # online, peak, likes
    assert tuple(again[1])[:2] == (0, 1)


async def test_counters_and_unique_members(engine: Engine) -> None:
    """incr adds; incr_unique counts a member once and says how many were new."""
    assert await engine.incr("r1", "clicks") == 1
    assert await engine.incr("r1", "clicks", 4) == 5
    assert (await engine.counters("r1"))["clicks"] == 5
    assert await engine.incr_unique("r1", "viewers", "u1") == 1
    assert await engine.incr_unique("r1", "viewers", "u1") == 0
    assert await engine.incr_unique("r1", "viewers", "u2") == 1
    assert await engine.incr_unique("r1", "viewers", "u1", "u3", "u4", "u3") == 2
    assert await engine.incr_unique("r1", "viewers") == 0
    assert await engine.unique_count("r1", "viewers") == 4
    # count_as: the new members are added to a counter in the same step, and only once
    assert await engine.incr_unique("r1", "tried", "u1", "u2", count_as="tried") == 2
    assert await engine.incr_unique("r1", "tried", "u2", "u3", count_as="tried") == 1
    assert (await engine.counters("r1"))["tried"] == 3


async def test_room_info_round_trip(engine: Engine) -> None:
    """Room settings are stored and read back whole."""
    assert await engine.room_info("r1") is None
    await engine.put_room_info("r1", {"title": "直播间", "allow_anonymous": False})
    assert await engine.room_info("r1") == {"title": "直播间", "allow_anonymous": False}
    assert (await engine.snapshot("r1", 0)).info == {"title": "直播间", "allow_anonymous": False}


def said(key: str, **more: object) -> tuple[CommentRules, str]:
    """Rules with the dedupe window on, and the text key: ``post_comment``'s last two."""
    fields: dict[str, object] = {
        "user_limit": 100, "user_window_s": 10, "room_cap": 0, "dedupe_window_s": 30.0,
    }  # fmt: skip
    fields.update(more)
    return CommentRules(**fields), key  # type: ignore[arg-type]


async def test_duplicate_is_the_same_users_posted_text_only(engine: Engine) -> None:
    """The same user's same text key within the window is DUPLICATE and takes no offset;
    another user's, or another text, passes; a refused comment is not remembered."""
    assert (await engine.post_comment("r1", "u1", body(1, "comment"), *said("k1"))).status is (
        Posted.OK
    )
    again = await engine.post_comment("r1", "u1", body(2, "comment"), *said("k1"))
    assert again.status is Posted.DUPLICATE and again.payload is None
    assert (await engine.post_comment("r1", "u2", body(3, "comment"), *said("k1"))).status is (
        Posted.OK
    )
    assert (await engine.post_comment("r1", "u1", body(4, "comment"), *said("k2"))).status is (
        Posted.OK
    )
    assert (await engine.head("r1")).head == 3
    # refused while muted: not remembered, so the same text passes after the unmute
    await engine.mute("r1", "u3", time.time() + 60)
    muted = await engine.post_comment("r1", "u3", body(5, "comment"), *said("k3"))
    assert muted.status is Posted.MUTED
    await engine.unmute("r1", "u3")
    assert (await engine.post_comment("r1", "u3", body(5, "comment"), *said("k3"))).status is (
        Posted.OK
    )
    # refused over the limit: not remembered either, and the check comes before the limit
    one = said("k4", user_limit=1)
    assert (await engine.post_comment("r1", "u4", body(6, "comment"), *one)).status is Posted.OK
    limited = await engine.post_comment("r1", "u4", body(7, "comment"), *said("k5", user_limit=1))
    assert limited.status is Posted.RATE_LIMITED
    repeat = await engine.post_comment("r1", "u4", body(6, "comment"), *one)
    assert repeat.status is Posted.DUPLICATE


async def test_hidden_comment_is_checked_and_counted_but_not_published(engine: Engine) -> None:
    """A hidden comment answers MUTED, DUPLICATE or RATE_LIMITED like any other, uses up the
    user's limit, and when it passes takes no offset."""
    rules = said("h1", user_limit=2, hidden=True)
    hidden = await engine.post_comment("r1", "u1", body(1, "comment"), *rules)
    assert hidden.status is Posted.HIDDEN and hidden.payload is None
    assert (await engine.head("r1")).head == 0
    assert (await engine.post_comment("r1", "u1", body(1, "comment"), *rules)).status is (
        Posted.DUPLICATE
    )
    assert (
        await engine.post_comment("r1", "u1", body(2, "comment"), *said("h2", user_limit=2))
    ).status is Posted.OK
    third = await engine.post_comment("r1", "u1", body(3, "comment"), *said("h3", user_limit=2))
    assert third.status is Posted.RATE_LIMITED
    await engine.mute("r1", "u2", time.time() + 60)
    muted = await engine.post_comment("r1", "u2", body(4, "comment"), *said("h4", hidden=True))
    assert muted.status is Posted.MUTED


async def test_shed_comment_tells_the_head_it_follows(engine: Engine) -> None:
    """A shed comment takes no offset, and answers the room's newest offset at that moment."""
    await engine.publish("r1", body(1))
    await engine.publish("r1", body(2))
    rules = CommentRules(user_limit=1000, user_window_s=10, room_cap=1)
    statuses = []
    for i in range(3):
        result = await engine.post_comment("r1", f"u{i}", body(i, "comment"), rules)
        statuses.append(result.status)
        if result.status is Posted.SHED:
            assert result.head == (await engine.head("r1")).head == 3
    assert statuses[0] is Posted.OK and Posted.SHED in statuses


async def test_a_lost_stream_starts_again_under_a_new_epoch(
    engine: Engine, engine_kind: str
) -> None:
    """Redis lost the room's keys: the next publish makes a new epoch, announced before it."""
    if engine_kind == "memory":
        pytest.skip("a memory stream is lost only with its process: tests/e2e/test_epochs.py")
    from liveroom.engine.redis import RedisEngine

    assert isinstance(engine, RedisEngine)
    old = await epoch(engine)
    seen: list[bytes] = []
    await engine.subscribe("r1", lambda room, payload: seen.append(payload))
    for i in range(3):
        await engine.publish("r1", body(i))
    k = engine.keys("r1")
    await engine.client.delete(k.seq, k.log, k.epoch, k.comments)
    payload = await engine.publish("r1", body(9))
    assert offset_of(payload) == 1
    await eventually(lambda: len(seen) == 5)
    notice = read_epoch_notice(seen[3])
    assert notice.epoch != old and notice.head == 0
    assert seen[4] == payload
    assert (await engine.head("r1")).epoch == notice.epoch
