"""A pulse's analytics write that Redis cannot take goes back into the tally and lands with
the next one: nothing counted is lost while Redis is down (``Analytics.flush``, whose rooms
with no newcomer go out together in ``write_many``)."""

from __future__ import annotations

import time

from liveroom.app import Node
from liveroom.features.analytics import Analytics
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
