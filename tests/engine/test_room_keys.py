"""``RoomKeys``: a room's key names, made once and kept, and the node's bounded cache of them."""

from __future__ import annotations

import copy
import pickle

import pytest
import redis.asyncio as aioredis

from liveroom.engine import redis_core
from liveroom.engine.redis import RedisEngine
from liveroom.engine.redis_core import RedisCore, RoomKeys
from tests.conftest import make_settings


def test_names_carry_the_rooms_hash_tag_and_are_made_once() -> None:
    keys = RoomKeys("lr", "r1")
    assert (keys.base, keys.channel) == ("lr:{room:r1}", "lr:{room:r1}:ch")
    assert keys.seq == "lr:{room:r1}:seq" and keys.sub("bag", "b1") == "lr:{room:r1}:bag:b1"
    assert keys.counters is keys.counters  # kept after the first use
    with pytest.raises(AttributeError):
        keys.__deepcopy__  # noqa: B018 - a protocol's name is not a key
    assert copy.copy(keys).seq == keys.seq
    assert pickle.loads(pickle.dumps(keys)).online == keys.online


def test_a_node_keeps_a_bounded_number_of_rooms_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_core, "KEYS_CACHED", 3)
    client = aioredis.Redis()  # never connected: key names need no server
    core = RedisCore(client, "lr", cluster=False, history_len=10, history_age_s=60.0)
    first = core.keys("r1")
    assert core.keys("r1") is first
    for room in ("r2", "r3"):
        core.keys(room)
    assert core.keys("r1") is first and len(core._keys) == 3
    core.keys("r4")  # past the bound: the cache starts over, and names are the same
    assert len(core._keys) == 1
    again = core.keys("r1")
    assert again is not first and again.seq == first.seq


async def test_a_node_keeps_a_bounded_number_of_rooms_pulse_keys(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, prefix: str
) -> None:
    """The pulse's three keys of a room are kept as one tuple, under the same bound: past it
    the cache starts over, and every room's totals are still right."""
    monkeypatch.setattr(redis_core, "KEYS_CACHED", 3)
    engine = RedisEngine(make_settings(engine="redis", redis_url=redis_url, redis_prefix=prefix))
    await engine.open()
    try:
        totals = await engine.pulse_many("n1", [(f"r{i}", i + 1, 0) for i in range(5)])
        assert [tuple(t) for t in totals] == [(i + 1, i + 1, 0) for i in range(5)]
        assert set(engine._pulse_keys) == {"r3", "r4"}  # r0..r2 kept, then r3 started over
        k = engine.keys("r4")
        assert engine._pulse_keys["r4"] == (k.nodes, k.online, k.counters)
    finally:
        await engine.close()
