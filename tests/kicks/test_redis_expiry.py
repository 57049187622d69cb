"""Kicks in Redis go away on their own: the room's kicks hash expires with its longest kick."""

from __future__ import annotations

import time

import pytest

from liveroom.engine.base import Engine
from liveroom.engine.redis import RedisEngine
from liveroom.features.kicks import kick_store


@pytest.mark.parametrize("engine_kind", ["redis"], indirect=True)
async def test_the_kicks_hash_lives_as_long_as_its_longest_kick(engine: Engine) -> None:
    """The hash's TTL follows the longest kick, and a shorter one never cuts it."""
    assert isinstance(engine, RedisEngine)
    store = kick_store(engine)
    key = engine.keys("r1").kicks
    assert key.startswith(f"{engine.prefix}:{{room:r1}}:"), "under the room's hash tag"
    await store.kick("r1", "long", time.time() + 120)
    await store.kick("r1", "short", time.time() + 5)
    ttl = await engine.client.pttl(key)
    assert 115_000 < ttl <= 121_000, ttl
