"""The sharded subscriber's health (``ShardedSubscriber.healthy``, what ``RedisEngine.ping``
answers on a Cluster after every master's ``PING``) comes back once nothing is left to
resubscribe."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio.cluster import RedisCluster

from liveroom.engine.redis_shards import ShardedSubscriber
from tests.cluster.redis_cluster import LocalCluster
from tests.timeouts import eventually

pytestmark = pytest.mark.cluster


async def test_healthy_again_when_every_lost_room_was_left_before_its_resubscribe(
    cluster: LocalCluster,
) -> None:
    """A master's rooms were lost (``healthy`` cleared), and every one of them was left before
    the supervisor could subscribe it again (a viewer's leave takes a room out of ``orphans``):
    with nothing to resubscribe, the subscriber is healthy again at its next look. It had
    stayed unhealthy for good, and ``/readyz`` answered 503 with the Cluster well."""
    client = RedisCluster.from_url(cluster.url.split(",")[0])
    restored: list[None] = []
    subscriber = ShardedSubscriber(
        client, lambda channel, data: None, lambda: restored.append(None)
    )
    supervisor = asyncio.create_task(subscriber.supervise())
    try:
        channel = b"lrt-health:{room:r1}:ch"
        await subscriber.subscribe(channel)
        # as a lost shard leaves it (``_orphan``), once its one room was unsubscribed
        # (``unsubscribe`` takes the room out of ``orphans`` as well as ``wanted``)
        await subscriber.unsubscribe(channel)
        subscriber.healthy.clear()
        subscriber.wake.set()
        assert not subscriber.orphans
        assert await eventually(subscriber.healthy.is_set, timeout=10)
        assert restored == []  # no room to tell
    finally:
        supervisor.cancel()
        await asyncio.gather(supervisor, return_exceptions=True)
        await subscriber.close()
        await client.aclose()
