"""PrivateStore conformance: the same answers and the same business events from the memory
engine and the Redis engine, on one Redis and on a Redis Cluster (where a host's followers sit
in the host's slot and a room's bookings in the room's)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from liveroom.engine.base import Engine
from liveroom.features.events import feed_source
from liveroom.features.private import private_store
from liveroom.features.private.store import Booking, Round
from tests.conftest import EVERY_ENGINE

pytestmark = pytest.mark.parametrize("engine_kind", EVERY_ENGINE, indirect=True)


async def events(engine: Engine, room: str) -> list[tuple[str, dict[str, Any]]]:
    """``(type, data)`` of every business event in ``room``'s outbox, oldest first."""
    source = feed_source(engine)
    await source.open_lane(room, "t", 0.0)
    read = await source.read(room, "t", "n", 1000)
    return [(e.type, e.event()["data"]) for e in read.entries]


async def go_live(engine: Engine, room: str, title: str = "Tea time") -> None:
    await engine.put_room_info(room, {"title": title, "ended": False})


async def test_a_follow_is_idempotent_and_tells_the_backend_once(engine: Engine) -> None:
    """Two follows: one follower, one ``user.followed`` in the host's outbox; the unfollow
    likewise, once."""
    store = private_store(engine)
    first = await store.follow("host.h1", "r1", "u1", "h1")
    again = await store.follow("host.h1", "r1", "u1", "h1")
    assert (first.changed, first.followers) == (True, 1)
    assert (again.changed, again.followers) == (False, 1)
    assert await store.follows("host.h1", "u1") and not await store.follows("host.h1", "u2")
    gone = await store.unfollow("host.h1", "r1", "u1", "h1")
    assert (gone.changed, gone.followers) == (True, 0)
    assert not (await store.unfollow("host.h1", "r1", "u1", "h1")).changed
    assert await events(engine, "host.h1") == [
        ("user.followed", {"user": "u1", "host": "h1", "in_room": "r1", "followers": 1}),
        ("user.unfollowed", {"user": "u1", "host": "h1", "in_room": "r1", "followers": 0}),
    ]
    assert await events(engine, "r1") == []


async def test_followers_belong_to_the_host_whatever_room_they_came_from(engine: Engine) -> None:
    """Follows from two rooms of one host count together; a room that is its own host keeps
    its own followers and events (host null)."""
    store = private_store(engine)
    await store.follow("host.h2", "ra", "u1", "h2")
    await store.follow("host.h2", "rb", "u2", "h2")
    assert await store.followers("host.h2") == 2
    alone = await store.follow("solo", "solo", "u1", "")
    assert alone.followers == 1 and await store.followers("host.h2") == 2
    assert await events(engine, "solo") == [
        ("user.followed", {"user": "u1", "host": None, "in_room": "solo", "followers": 1})
    ]


async def test_cards_are_set_read_and_removed_per_owner(engine: Engine) -> None:
    """A card set for a room or a host scope reads back as set, and is gone once removed."""
    store = private_store(engine)
    card = {"message": "Join us", "link": "https://example.com/g"}
    await store.put_card("r1", "room.invite", card)
    assert await store.card("r1", "room.invite") == card
    assert await store.card("r1", "room.service") is None
    assert await store.card("host.h1", "room.invite") is None
    await store.put_card("r1", "room.invite", None)
    assert await store.card("r1", "room.invite") is None


async def test_a_paid_order_is_offered_once_per_room(engine: Engine) -> None:
    """``offer_once`` is true for the first offer of a key in a room only."""
    store = private_store(engine)
    assert await store.offer_once("r1", "sale/o1")
    assert not await store.offer_once("r1", "sale/o1")
    assert await store.offer_once("r1", "group/o1")
    assert await store.offer_once("r2", "sale/o1")


async def test_a_booking_needs_a_scheduled_live_that_has_not_started(engine: Engine) -> None:
    """Unscheduled: ``not_scheduled``; scheduled: booked once (``room.booked`` once); live:
    ``room_live``; live and over: ``room_ended``; scheduling while live: ``room_live``."""
    store = private_store(engine)
    assert (await store.book("b1", "u1")).code is Booking.NOT_SCHEDULED
    scheduled = await store.schedule("b1", "Spring tea", 1_900_000_000.5)
    assert scheduled.code is Booking.OK and scheduled.schedule is not None
    assert scheduled.schedule.public() == {
        "state": "open",
        "title": "Spring tea",
        "starts": 1_900_000_000.5,
        "bookings": 0,
    }
    first, again = await store.book("b1", "u1"), await store.book("b1", "u1")
    assert (first.code, first.new, again.new) == (Booking.OK, True, False)
    assert first.schedule is not None and first.schedule.bookings == 1
    assert await store.booked("b1", "u1") and not await store.booked("b1", "u2")
    await go_live(engine, "b1")
    assert (await store.book("b1", "u2")).code is Booking.ROOM_LIVE
    assert (await store.schedule("b1", "Next", 0)).code is Booking.ROOM_LIVE
    await store.announce("b1")
    await engine.put_room_info("b1", {"title": "Tea time", "ended": True})
    assert (await store.book("b1", "u2")).code is Booking.ROOM_ENDED
    booked = [data for kind, data in await events(engine, "b1") if kind == "room.booked"]
    assert booked == [{"user": "u1", "title": "Spring tea", "starts": 1_900_000_000.5}]


async def test_the_start_announces_each_booking_once(engine: Engine) -> None:
    """Before the room is live nothing is announced; once live, every booking gets one
    ``room.started`` with its user, and announcing again adds nothing."""
    store = private_store(engine)
    await store.schedule("b2", "Spring tea", 0)
    for user in ("u1", "u2", "u3"):
        await store.book("b2", user)
    waiting = await store.announce("b2")
    assert (waiting.started, waiting.announced, waiting.left) == (False, 0, 3)
    await go_live(engine, "b2", "Live tea")
    step = await store.announce("b2")
    assert (step.started, step.announced, step.left) == (True, 3, 0)
    assert (await store.announce("b2")).announced == 0
    started = [data for kind, data in await events(engine, "b2") if kind == "room.started"]
    assert {"title": "Live tea"} in started  # the room's own, from its settings
    mine = sorted((d for d in started if "user" in d), key=lambda d: d["user"])
    assert [d["user"] for d in mine] == ["u1", "u2", "u3"]
    assert all(d["title"] == "Live tea" and d["booked"] > 0 for d in mine)
    assert await store.ledger("b2") == {"u1": True, "u2": True, "u3": True}
    current = await store.round("b2")
    assert current is not None and current.state is Round.STARTED


async def test_announcing_in_batches_and_at_once_from_many_callers(engine: Engine) -> None:
    """Batches of three announce seven bookings in three steps; twenty callers racing over a
    second room announce each of its bookings exactly once."""
    store = private_store(engine)
    await store.schedule("b3", "t", 0)
    await store.schedule("b4", "t", 0)
    for n in range(7):
        await store.book("b3", f"u{n}")
    for n in range(40):
        await store.book("b4", f"u{n}")
    await go_live(engine, "b3")
    await go_live(engine, "b4")
    steps = [await store.announce("b3", batch=3) for _ in range(4)]
    assert [(s.announced, s.left) for s in steps] == [(3, 4), (3, 1), (1, 0), (0, 0)]
    racing = await asyncio.gather(*(store.announce("b4", batch=3) for _ in range(20)))
    assert sum(s.announced for s in racing) == 40
    started = [d for kind, d in await events(engine, "b4") if kind == "room.started"]
    users = [d["user"] for d in started if "user" in d]
    assert sorted(users) == sorted(f"u{n}" for n in range(40))


async def test_a_new_round_starts_empty_and_a_finished_one_leaves_the_index(
    engine: Engine,
) -> None:
    """After a live, scheduling again opens a round with no bookings; a finished round leaves
    the sweepers' index after its grace, an open one never does."""
    store = private_store(engine)
    await store.schedule("b5", "first", 0)
    await store.book("b5", "u1")
    assert "b5" in await store.rounds()
    assert not await store.retire("b5", grace_s=0)  # open
    await go_live(engine, "b5")
    await store.announce("b5")
    assert not await store.retire("b5")  # done, but within the grace
    assert await store.retire("b5", grace_s=0)
    assert "b5" not in await store.rounds()
    await engine.put_room_info("b5", {"title": "first", "ended": True})
    again = await store.schedule("b5", "second", 0)
    assert again.code is Booking.OK and again.schedule is not None
    assert again.schedule.bookings == 0 and "b5" in await store.rounds()
    assert not await store.booked("b5", "u1")
    assert (await store.book("b5", "u1")).new


async def test_a_new_round_waits_for_the_last_one_to_be_announced(engine: Engine) -> None:
    """While a started round still has bookings to announce, scheduling answers ``busy``;
    once they are all announced, a new round opens."""
    store = private_store(engine)
    await store.schedule("b6", "first", 0)
    for user in ("u1", "u2", "u3"):
        await store.book("b6", user)
    await go_live(engine, "b6")
    assert (await store.announce("b6", batch=1)).left == 2
    await engine.put_room_info("b6", {"title": "first", "ended": True})
    assert (await store.schedule("b6", "second", 0)).code is Booking.BUSY
    assert (await store.announce("b6")).left == 0
    assert (await store.schedule("b6", "second", 0)).code is Booking.OK
