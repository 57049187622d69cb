"""Redis: a red packet whose own keys expired is forgotten in the room's lists, not grabbed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis

from liveroom.engine.redis import RedisEngine
from liveroom.features.redpacket.store import Grab, PacketStore, whole_ms
from liveroom.features.redpacket.store_redis import PACKET_TTL_S
from liveroom.features.redpacket.stores import packet_store
from tests.conftest import make_settings


@pytest.fixture
async def redis_engine(redis_url: str, prefix: str) -> AsyncIterator[RedisEngine]:
    engine = RedisEngine(make_settings(engine="redis", redis_url=redis_url, redis_prefix=prefix))
    await engine.open()
    yield engine
    await engine.close()


async def _create(store: PacketStore, packet: str, created: float, keyword: str = "") -> None:
    meta = orjson.dumps(
        {"id": packet, "total": 30, "count": 3, "keyword": keyword or None, "created": created}
    )
    now = whole_ms(time.time())
    assert await store.create("r1", packet, meta, [10, 10, 10], keyword, now)


async def test_expired_packet_is_dropped_from_active_and_cannot_be_grabbed(
    redis_engine: RedisEngine, redis_url: str
) -> None:
    """Packet A's keys expire (3 days) while newer packet B keeps the room lists alive."""
    store = packet_store(redis_engine)
    now = time.time()
    await _create(store, "old", now - PACKET_TTL_S - 60, keyword="口令")
    await _create(store, "new", now)
    keys = redis_engine.keys("r1")
    client = aioredis.Redis.from_url(redis_url)
    # what Redis' own expiry does to the old packet's keys after its lifetime
    await client.delete(keys.sub("packet", "old", "amounts"), keys.sub("packet", "old", "tally"))
    active = [orjson.loads(a.meta)["id"] for a in await store.active("r1")]
    assert active == ["new"]
    result = await store.grab("r1", "old", "u1", "U1", whole_ms(now))
    assert result.status is Grab.NOT_FOUND
    assert not await client.hexists(keys.sub("packets", "kw"), "口令")
    later = whole_ms(time.time()) + 1
    assert (await store.grab("r1", "new", "u1", "U1", later)).status is Grab.OK
    await client.aclose()
