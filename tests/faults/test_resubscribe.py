"""A node with many rooms when Redis restarts: every room re-subscribed and caught up."""

from __future__ import annotations

from loadtest.resubbench import resync_after_restart
from tests.redis_servers import RedisProcess
from tests.timeouts import scaled


async def test_two_hundred_rooms_resubscribe_and_fill_after_a_restart(
    durable_redis: RedisProcess,
) -> None:
    """Redis stops and starts under a node holding 200 rooms, and another node posts in every
    room at once: the node notices the new connection (redis-py makes it on its own), every
    room is subscribed again, and every room holds the new event, from pub/sub or history."""

    def restart() -> None:
        durable_redis.stop()
        durable_redis.start()

    result = await resync_after_restart(durable_redis.url, 200, restart, timeout=scaled(30))
    assert result["resubscribed_s"] is not None, result  # the reconnect was seen
    assert result["all_resynced_s"] is not None, result
    assert result["rooms_with_the_new_event"] == 200, result
    assert result["rooms_told_resync"] == 0, result  # the history was there: no reset needed
