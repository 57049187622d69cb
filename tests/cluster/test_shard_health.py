"""The sharded subscriber's health (``ShardedSubscriber.healthy``, what ``RedisEngine.ping``
answers on a Cluster after every master's ``PING``) comes back, with the rooms told to catch up,
once every room lost is subscribed again or was left."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

from liveroom.engine.redis_shards import ShardedSubscriber
from tests.cluster.redis_cluster import LocalCluster
from tests.timeouts import eventually, scaled

pytestmark = pytest.mark.cluster

# two channels of one slot (one hash tag), so of one shard
KEPT = b"lrt-health:{room:h1}:ch"
LEFT = b"lrt-health:{room:h1}:left"


async def test_healthy_again_when_the_rooms_not_resubscribed_were_left(
    cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two rooms of a shard are lost. The supervisor subscribes one again, fails on the other
    and backs off; meanwhile the other is left. With nothing left to subscribe, the subscriber
    is healthy again and the hub told to read what the rooms missed (``restored``). It had
    stayed unhealthy for good (``/readyz`` 503 with the Cluster well), and the room subscribed
    again never caught up."""
    client = RedisCluster.from_url(cluster.url.split(",")[0])
    restored: list[None] = []
    subscriber = ShardedSubscriber(
        client, lambda channel, data: None, lambda: restored.append(None)
    )
    supervisor = asyncio.create_task(subscriber.supervise())
    try:
        await subscriber.subscribe(KEPT)
        await subscriber.subscribe(LEFT)
        real = subscriber._subscribe
        refused = asyncio.Event()

        async def flaky(channel: bytes) -> None:
            if channel == LEFT:
                refused.set()
                raise RedisConnectionError("refused by the test")
            await real(channel)

        monkeypatch.setattr(subscriber, "_subscribe", flaky)
        (shard,) = [s for s in subscriber.shards.values() if KEPT in s.channels]
        subscriber._orphan(shard, {KEPT, LEFT}, "lost by the test")  # as a dropped connection
        assert not subscriber.healthy.is_set()
        await asyncio.wait_for(refused.wait(), scaled(10))  # the pass failed on LEFT
        await subscriber.unsubscribe(LEFT)  # during the backoff
        assert await eventually(subscriber.healthy.is_set, timeout=10)
        assert restored == [None]
        assert KEPT in shard.channels and not subscriber.orphans
    finally:
        supervisor.cancel()
        await asyncio.gather(supervisor, return_exceptions=True)
        await subscriber.close()
        await client.aclose()
