"""``RedisCore.guard()``: an outage becomes ``EngineUnavailable``; anything else goes on as it
was; on a cluster the gate's turn is given back either way."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from liveroom.engine.redis_core import RedisCore
from liveroom.errors import EngineUnavailable


def core(gate: asyncio.Semaphore | None) -> RedisCore:
    client = aioredis.Redis()  # never connected: the guard alone is tested here
    return RedisCore(client, "lr", cluster=gate is not None, history_len=10, history_age_s=0.0,
                     gate=gate)  # fmt: skip


@pytest.mark.parametrize("gated", [False, True], ids=["standalone", "cluster"])
async def test_an_outage_is_unavailable_and_the_rest_passes_through(gated: bool) -> None:
    gate = asyncio.Semaphore(2) if gated else None
    guarded = core(gate)
    for lost in (RedisConnectionError("gone"), OSError("reset"), TimeoutError()):
        with pytest.raises(EngineUnavailable) as caught:
            async with guarded.guard():
                raise lost
        assert caught.value.__cause__ is lost
    with pytest.raises(ResponseError):  # Redis answered: not an outage
        async with guarded.guard():
            raise ResponseError("WRONGTYPE")
    with pytest.raises(asyncio.CancelledError):
        async with guarded.guard():
            raise asyncio.CancelledError
    async with guarded.guard():
        async with guarded.guard():  # one guard serves calls at once
            if gate is not None:
                assert gate.locked()
    if gate is not None:  # every turn given back
        assert not gate.locked() and gate._value == 2
