"""Room events held for the tick, on a real Redis (``events_at_tick``; ``listener.py``).

Between two ticks the engine's pub/sub connection is not read: the hub's tick reads what came
(``RedisEngine.read_events``). What cannot wait a tick rings the bell channel, and a node holding
that room reads its events at once again: ``publish`` (every room event but a comment), a
private notice, a lucky bag's news. Each test drives ``read_events`` itself, as the hub's tick
would, and compares with a witness engine that reads as events arrive.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import orjson
import pytest
import redis.asyncio as aioredis

from liveroom.engine import listener
from liveroom.engine import redis as redis_engine
from liveroom.engine.base import POSTED, CommentRules
from liveroom.engine.redis import RedisEngine
from liveroom.hub import Viewer
from liveroom.protocol import room_event_body
from tests.conftest import make_settings
from tests.engine.conftest import Hubs, Wire
from tests.timeouts import eventually

RULES = CommentRules(
    user_limit=100,
    user_window_s=10,
    room_cap=0,
    priority=False,
    dedupe_window_s=0,
    hidden=False,
)


class Room:
    """What one room's handler got."""

    def __init__(self) -> None:
        self.got: list[bytes] = []

    def __call__(self, room: str, payload: bytes) -> None:
        self.got.append(payload)

    def texts(self) -> list[str]:
        """The room events' texts (not the epoch's notice, ``@!...``, nor private ones)."""
        return [orjson.loads(p)["text"] for p in self.got if p[:1] != b"@"]


@pytest.fixture
async def pair(redis_url: str) -> AsyncIterator[tuple[RedisEngine, RedisEngine, str]]:
    """A node that holds room events for its tick (its pub/sub connection named, to be
    killed), and a witness on the same prefix that reads them as they come."""
    prefix = "tick-" + uuid.uuid4().hex[:8]
    name = "held-" + uuid.uuid4().hex[:8]
    held = RedisEngine(
        make_settings(redis_url=f"{redis_url}?client_name={name}", redis_prefix=prefix)
    )
    witness = RedisEngine(
        make_settings(redis_url=redis_url, redis_prefix=prefix, events_at_tick=False)
    )
    await held.open()
    await witness.open()
    try:
        await eventually(lambda: held._bells_up)
        yield held, witness, name
    finally:
        await held.close()
        await witness.close()


async def comment(engine: RedisEngine, room: str, text: str) -> int:
    body = room_event_body("comment", ts=1.0, user={"id": "u"}, text=text)
    result = await engine.post_comment(room, "u", body, RULES)
    assert result.status is POSTED
    return result.offset


def hold(engine: RedisEngine) -> None:
    engine.read_events()  # a tick with nothing waiting: the connection is held from here on
    assert engine._wire is not None and engine._wire.held


async def held_comments(held: RedisEngine, witness: RedisEngine, count: int) -> tuple[Room, Room]:
    """``held`` and ``witness`` both in room ``r``, ``held``'s connection held, then ``count``
    comments posted through ``witness`` and seen by it (Redis has sent them to both): the rooms
    of ``held`` (which has read none of them yet) and of ``witness``."""
    mine, seen = Room(), Room()
    await held.subscribe("r", mine)
    await witness.subscribe("r", seen)
    hold(held)
    for n in range(count):
        await comment(witness, "r", f"c{n}")
    await eventually(lambda: len(seen.texts()) == count)
    return mine, seen


async def ticks_until(engine: RedisEngine, check: Callable[[], bool]) -> None:
    """Tick (``read_events``) until ``check`` holds."""

    def tick() -> bool:
        engine.read_events()
        return check()

    await eventually(tick)


async def test_comments_wait_for_the_tick_and_come_in_order(
    pair: tuple[RedisEngine, RedisEngine, str],
) -> None:
    held, witness, _ = pair
    mine, seen = await held_comments(held, witness, 5)
    await asyncio.sleep(0)
    assert mine.got == [], "a held connection was read between ticks"
    await ticks_until(held, lambda: len(mine.texts()) == 5)
    assert mine.texts() == [f"c{n}" for n in range(5)]
    assert mine.got == seen.got  # the epoch's notice first, then the comments
    assert held._wire is not None and held._wire.held  # and held again after the tick


async def test_an_event_sent_at_once_rings_the_bell_and_is_read_at_once(
    pair: tuple[RedisEngine, RedisEngine, str],
) -> None:
    """``publish`` (a sale's state, a card, ...) rings: the node reads without a tick, and
    what waited before the event comes with it, in order."""
    held, witness, _ = pair
    mine = Room()
    await held.subscribe("r", mine)
    hold(held)
    await comment(witness, "r", "before")
    await witness.publish("r", room_event_body("sale", ts=1.0, text="now"))
    await eventually(lambda: len(mine.texts()) == 2)  # no ``read_events`` here
    assert mine.texts() == ["before", "now"]
    assert held._wire is not None and not held._wire.held


async def test_a_bell_for_a_room_the_node_does_not_hold_leaves_it_held(
    pair: tuple[RedisEngine, RedisEngine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    held, witness, _ = pair
    await held.subscribe("r", Room())
    hold(held)
    wire = held._wire
    assert wire is not None
    releases: list[int] = []
    release = wire.release
    monkeypatch.setattr(wire, "release", lambda: (releases.append(1), release())[1])
    await witness.publish("elsewhere", room_event_body("sale", ts=1.0, text="x"))
    await witness.core.ring("r")  # the next bell on the bells' connection: this room's
    await eventually(lambda: not wire.held)
    assert releases == [1], "the other room's bell had the connection read too"


async def test_a_private_notice_rings_the_bell(
    pair: tuple[RedisEngine, RedisEngine, str],
) -> None:
    held, witness, _ = pair
    mine = Room()
    await held.subscribe("r", mine)
    hold(held)
    await witness.notify("r", "u1", b'{"type":"kicked"}')
    await eventually(lambda: mine.got == [b'@u1\n{"type":"kicked"}'])


async def test_a_subscription_is_confirmed_while_held(
    pair: tuple[RedisEngine, RedisEngine, str],
) -> None:
    held, witness, _ = pair
    await held.subscribe("r", Room())
    hold(held)
    later = Room()
    await asyncio.wait_for(held.subscribe("later", later), 5.0)  # confirmed with no tick
    hold(held)
    await comment(witness, "later", "hello")
    await ticks_until(held, lambda: later.texts() == ["hello"])


async def test_a_connection_lost_while_held_is_found_at_the_tick(
    pair: tuple[RedisEngine, RedisEngine, str], redis_url: str
) -> None:
    """Redis drops the held connection: the next tick reads its end, the engine connects
    again and subscribes every room, and the rooms are told to fill from history."""
    held, witness, name = pair
    mine = Room()
    back: list[int] = []
    held.add_reconnect_listener(lambda: back.append(1))
    await held.subscribe("r", mine)
    hold(held)
    await held.subscribe("other", Room())  # two rooms: the bells' connection has one channel
    admin = aioredis.Redis.from_url(redis_url)
    try:
        clients = [c for c in await admin.client_list() if c.get("name") == name]
        assert sorted(int(c["sub"]) for c in clients) == [1, 2]
        lost = held._wire
        await admin.client_kill_filter(_id=next(c["id"] for c in clients if c["sub"] == "2"))
        await ticks_until(held, lambda: back == [1])
        assert held._wire is not lost
        assert held._bells_up  # the bells' connection was not the one lost
    finally:
        await admin.aclose()
    await comment(witness, "r", "after")
    await ticks_until(held, lambda: mine.texts() == ["after"])


async def test_with_the_bells_lost_room_events_are_read_as_they_come(
    pair: tuple[RedisEngine, RedisEngine, str], redis_url: str
) -> None:
    held, witness, _ = pair
    mine = Room()
    await held.subscribe("r", mine)
    hold(held)
    bell_wire = held._bell_wire
    assert bell_wire is not None
    bell_wire.fail(ConnectionError("cut"))  # as a lost connection does
    await eventually(lambda: not held._bells_up)
    assert held._wire is not None and not held._wire.held
    await comment(witness, "r", "unheld")
    await eventually(lambda: mine.texts() == ["unheld"])  # no tick needed
    await eventually(lambda: held._bells_up and held._bell_wire is not bell_wire)
    hold(held)  # back: held again at the next tick


async def test_comments_do_not_ring_and_every_other_publish_does(
    pair: tuple[RedisEngine, RedisEngine, str], redis_url: str
) -> None:
    held, witness, _ = pair
    listener = aioredis.Redis.from_url(redis_url)
    pubsub = listener.pubsub()
    try:
        await pubsub.subscribe(held.core.bell)
        assert (await pubsub.get_message(timeout=5.0))["type"] == "subscribe"
        await comment(witness, "r", "quiet")
        await witness.publish("s", room_event_body("card", ts=1.0, text="loud"))
        bell = await pubsub.get_message(timeout=5.0)
        # the comment, published first, rang nothing: the first bell is the card's room
        assert bell is not None and bell["data"] == held.keys("s").channel.encode()
        await witness.core.ring("t")  # a store's ring after its script (lucky bags)
        bell = await pubsub.get_message(timeout=5.0)
        assert bell is not None and bell["data"] == held.keys("t").channel.encode()
    finally:
        await pubsub.aclose()
        await listener.aclose()


async def test_off_the_connection_is_never_held(redis_url: str) -> None:
    engine = RedisEngine(make_settings(redis_url=redis_url, events_at_tick=False))
    await engine.open()
    try:
        room = Room()
        await engine.subscribe("r", room)
        engine.read_events()
        assert engine._wire is not None and not engine._wire.held
        assert engine._bell_task is None
    finally:
        await engine.close()


async def test_a_hub_sends_a_belled_event_at_once_and_a_comment_at_its_tick(
    pair: tuple[RedisEngine, RedisEngine, str], hubs: Hubs
) -> None:
    """Through a hub whose tick never comes on its own (it is not opened; the test ticks):
    an event the hub flushes at once reaches the viewer with no tick, after the comment that
    waited before it; a comment alone waits for the tick."""
    held, witness, _ = pair
    hub = hubs(held, held.settings)
    hub.critical = hub.critical | {b"sale"}
    room = await hub.room("r")
    wire = Wire()
    hub.join(room, Viewer(wire, "u1"), await held.head("r"))
    seen = Room()
    await witness.subscribe("r", seen)

    def tick() -> None:
        held.read_events()
        if hub.dirty:
            hub.flush_all()

    tick()
    assert held._wire is not None and held._wire.held
    await comment(witness, "r", "quiet")
    await witness.publish("r", room_event_body("sale", ts=1.0, text="loud"))
    await eventually(lambda: wire.has("loud"))  # no tick: the bell had it read and sent
    sent = b"".join(wire.data)
    assert sent.index(b'"quiet"') < sent.index(b'"loud"')
    await eventually(lambda: (tick(), held._wire is not None and held._wire.held)[1])  # again
    await comment(witness, "r", "later")
    await eventually(lambda: "later" in seen.texts())  # Redis sent it to both nodes
    await asyncio.sleep(0)
    assert not wire.has("later")
    await eventually(lambda: (tick(), wire.has("later"))[1])


async def test_a_bell_ahead_of_its_event_keeps_the_connection_read_until_the_event(
    pair: tuple[RedisEngine, RedisEngine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bell and its event come on two connections: a tick between them must not hold the
    connection, or the event would wait for the next tick. (No grace after a bell here: the
    room's own wait is what keeps the connection read.)"""
    monkeypatch.setattr(redis_engine, "BELL_GRACE_S", 0.0)
    held, witness, _ = pair
    mine = Room()
    await held.subscribe("r", mine)
    hold(held)
    channel = held.keys("r").channel.encode()
    await witness.core.ring("r")  # the bell alone: its event is not published yet
    await eventually(lambda: channel in held._rung)
    for _ in range(3):
        held.read_events()  # ticks while the event is on its way
        assert held._wire is not None and not held._wire.held
    # the event that bell was for, published alone (``publish`` would ring again)
    raw = aioredis.Redis.from_url(held.settings.redis_url)
    try:
        await raw.publish(held.keys("r").channel, b'{"offset":1,"type":"sale","text":"late"}')
    finally:
        await raw.aclose()
    await eventually(lambda: mine.texts() == ["late"])  # read at once, no tick needed
    assert channel not in held._rung
    await ticks_until(held, lambda: held._wire is not None and held._wire.held)


async def test_a_backlog_longer_than_a_drain_is_read_as_it_comes(
    pair: tuple[RedisEngine, RedisEngine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tick reads at most ``DRAIN_READS`` chunks; with more waiting, the connection is left
    to the event loop rather than held again, and every event still comes, in order."""
    held, witness, _ = pair
    monkeypatch.setattr(listener, "DRAIN_READS", 1)
    monkeypatch.setattr(listener, "DRAIN_CHUNK", 64)
    mine, seen = await held_comments(held, witness, 20)
    held.read_events()  # one chunk of 64 bytes: far from all
    assert held._wire is not None and not held._wire.held
    await eventually(lambda: len(mine.texts()) == 20)  # the event loop read the rest
    assert mine.got == seen.got


async def test_a_bell_behind_its_event_does_not_keep_the_connection_read(
    pair: tuple[RedisEngine, RedisEngine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store rings after its script returned, a round trip after the event: with the
    connection read as events come, the event is in before its bell, and the bell must not
    leave the connection waiting for it."""
    monkeypatch.setattr(redis_engine, "BELL_GRACE_S", 0.0)
    held, witness, _ = pair
    mine = Room()
    await held.subscribe("r", mine)
    assert held._wire is not None and not held._wire.held  # not held yet: read as they come
    await witness.publish("r", room_event_body("sale", ts=1.0, text="first"))
    await eventually(lambda: mine.texts() == ["first"])
    before = held._last_bell
    await witness.core.ring("r")  # the store's ring, after its event
    await eventually(lambda: held._last_bell > before)
    assert held._rung == {}
    hold(held)  # the next tick holds the connection
