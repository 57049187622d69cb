"""A pulse's analytics write that Redis cannot take goes back into the tally and lands with
the next one: nothing counted is lost while Redis is down (``Analytics.flush``, whose rooms
with no newcomer go out together in ``write_many``)."""

from __future__ import annotations

import secrets
import time
from collections import Counter

import orjson
import redis.asyncio
import redis.exceptions

from liveroom.app import Node
from liveroom.features.analytics import Analytics
from liveroom.features.analytics.store_redis import RedisAnalytics
from liveroom.features.analytics.tally import Batch
from tests.conftest import make_settings
from tests.redis_servers import RedisProcess


async def test_counts_written_while_redis_is_down_land_with_the_next_pulse(
    private_redis: list[RedisProcess],
) -> None:
    server = RedisProcess("--appendonly", "yes", "--appendfsync", "always").start()
    private_redis.append(server)
    settings = make_settings(
        engine="redis", redis_url=server.url, redis_prefix="flushfault", pulse_s=3600
    )
    node = Node(settings)
    await node.open()
    try:
        analytics = next(f for f in node.features if isinstance(f, Analytics))
        rooms = [f"room{n}" for n in range(5)]
        for n, room in enumerate(rooms):
            for _ in range(n + 1):
                analytics.tally.commented(room, f"u{n}")
        await analytics.flush()  # the rooms are known to the store from here on
        for room in rooms:
            analytics.tally.commented(room, "late")
        server.stop()
        await analytics.flush()  # refused: every room's batch goes back into the tally
        server.start()
        await analytics.flush()
        for n, room in enumerate(rooms):
            data = await analytics.store.read(room, time.time())
            assert data is not None, room
            assert data.counts["comments"] == n + 2, room
            assert data.counts["n:interacted"] == 2, room
    finally:
        await node.close()


async def test_a_room_redis_refuses_does_not_take_the_others_down(
    private_redis: list[RedisProcess],
) -> None:
    """``write_many`` gives each batch its own outcome: a room whose write Redis refuses (a key
    of the wrong type, here) is that room's error, and the rooms beside it are written."""
    server = RedisProcess().start()
    private_redis.append(server)
    settings = make_settings(engine="redis", redis_url=server.url, redis_prefix="eachfault")
    node = Node(settings)
    await node.open()
    try:
        store = next(f for f in node.features if isinstance(f, Analytics)).store
        assert isinstance(store, RedisAnalytics)
        client = redis.asyncio.Redis.from_url(server.url)
        try:
            await client.set(store._keys("bad")[0], "not a hash")
        finally:
            await client.aclose()
        batches = []
        for room in ("good1", "bad", "good2"):
            batch = Batch(room, time.time())
            batch.counts = Counter({"comments": 1})
            batches.append(batch)
        outcomes = await store.write_many(batches, settings.node_id, 3600.0)
        assert outcomes[0] is None and outcomes[2] is None, outcomes
        assert isinstance(outcomes[1], redis.exceptions.ResponseError), outcomes
        for room in ("good1", "good2"):
            data = await store.read(room, time.time())
            assert data is not None and data.counts["comments"] == 1, room
    finally:
        await node.close()


async def test_a_second_try_of_a_many_rooms_write_adds_nothing(redis_url: str) -> None:
    """A call of ``analytics_write_rooms`` sent again after a lost connection (its retry form,
    ``scripts.py``) finds each room's first write, the node's mark at the batch's own time,
    and adds nothing; a room the first call did not hold is written by the second."""
    settings = make_settings(
        engine="redis", redis_url=redis_url, redis_prefix="again" + secrets.token_hex(4)
    )
    node = Node(settings)
    await node.open()
    try:
        store = next(f for f in node.features if isinstance(f, Analytics)).store
        assert isinstance(store, RedisAnalytics)
        now = time.time()
        batches = []
        for room in ("r1", "r2", "r3"):
            batch = Batch(room, now)
            batch.counts = Counter({"comments": 2})
            batch.marks = {("interacted", "u1")}
            batches.append(batch)
        script = store.core.scripts.get("analytics_write_rooms", "liveroom.features.analytics")
        keys = [key for batch in batches for key in store._keys(batch.room)]
        args = [3600, *(store._body(batch, settings.node_id, {}) for batch in batches)]
        sent = time.monotonic()
        first = await script.first(keys=keys[:16], args=args[:3])  # r1 and r2 only
        assert first == [1, 1]
        again = await script.again(keys=keys, args=script.again_args(args, sent))
        assert again == [1, 1, 1]
        for room in ("r1", "r2", "r3"):
            data = await store.read(room, time.time())
            assert data is not None, room
            assert (data.counts["comments"], data.counts["n:interacted"]) == (2, 1), room
    finally:
        await node.close()


async def test_guests_are_never_returning_and_not_noted_among_a_hosts_viewers() -> None:
    """A room of a host with a signed-in viewer seen in another of the host's rooms, and a
    guest: the viewer is returning, the guest not, and only the signed-in viewers are noted
    in the host's table (a guest's id would be kept there for nothing)."""
    node = Node(make_settings(pulse_s=3600))
    await node.open()
    try:
        analytics = next(f for f in node.features if isinstance(f, Analytics))
        analytics.tally.joined("earlier", "u1", "", (), "h1")
        await analytics.flush()
        analytics.tally.joined("now", "u1", "", (), "h1")
        analytics.tally.joined("now", "anon-x", "", (), "h1", guest=True)
        await analytics.flush()
        assert set(analytics.store.hosts["h1"]) == {"u1"}  # type: ignore[attr-defined]
        data = await analytics.store.read("now", time.time())
        assert data is not None
        profiles = {user: orjson.loads(p) for user, (_, p) in data.users.items()}
        # the profile's last field: "1" returning, "0" not, "" unknown (no host)
        assert profiles["u1"][-1] == "1" and profiles["anon-x"][-1] == "0", profiles
    finally:
        await node.close()
