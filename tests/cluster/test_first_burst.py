"""A node's first commands on a Cluster go to their keys' masters: none answered MOVED, none
dropped. redis-py 8 picks a command's route before loading the slot map it lacks, and sends
keyed commands to random nodes until it has one; every fifth MOVED it then drops all its
connections, failing the commands in flight. A fresh engine's first burst of script calls (the
analytics write of 207 rooms at once, say) failed some with "Connection closed by server" about
one run in five (``engine.redis.RoutedCluster``)."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
import redis.asyncio as aioredis

from liveroom.engine.redis import RedisEngine
from liveroom.features.analytics import analytics_store
from liveroom.features.analytics.tally import Batch
from tests.cluster.redis_cluster import LocalCluster
from tests.conftest import make_settings

pytestmark = pytest.mark.cluster

ROOMS = 300


async def _moved(cluster: LocalCluster) -> int:
    """MOVED replies the masters gave since their stats were last reset (``INFO errorstats``)."""
    total = 0
    for node in cluster.nodes[: cluster.masters]:
        client = aioredis.Redis.from_url(node.url)
        try:
            stats = await client.info("errorstats")
        finally:
            await client.aclose()
        total += int(stats.get("errorstat_MOVED", {}).get("count", 0))
    return total


async def _reset_stats(cluster: LocalCluster) -> None:
    for node in cluster.nodes[: cluster.masters]:
        client = aioredis.Redis.from_url(node.url)
        try:
            await client.config_resetstat()
        finally:
            await client.aclose()


@pytest.mark.parametrize("attempt", range(3))
async def test_a_fresh_nodes_first_burst_is_routed_by_slot(
    cluster: LocalCluster, attempt: int
) -> None:
    await _reset_stats(cluster)
    prefix = "lrt-burst-" + uuid.uuid4().hex[:8]
    engine = RedisEngine(
        make_settings(
            engine="redis", redis_cluster=True, redis_url=cluster.url, redis_prefix=prefix
        )
    )
    await engine.open()
    try:
        store = analytics_store(engine)
        batches = []
        for n in range(ROOMS):
            batch = Batch(f"burst{n}", 20.0)
            batch.counts = Counter({"comments": n + 1})
            batches.append(batch)
        outcomes = await store.write_many(batches, "A", 3600.0)
        assert outcomes == [None] * ROOMS
        assert await _moved(cluster) == 0
        for n in (0, ROOMS // 2, ROOMS - 1):
            data = await store.read(f"burst{n}", 21.0)
            assert data is not None and data.counts["comments"] == n + 1
    finally:
        await engine.close()
