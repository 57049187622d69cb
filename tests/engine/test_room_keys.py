"""``RoomKeys``: a room's key names, made once and kept, and the node's bounded cache of them."""

from __future__ import annotations

import copy
import pickle

import pytest
import redis.asyncio as aioredis

from liveroom.engine import redis_core
from liveroom.engine.redis_core import RedisCore, RoomKeys


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
