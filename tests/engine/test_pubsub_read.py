"""The Redis engine's pub/sub read: room events go straight from the reply to their room's
handler, in order, one ``read_response`` bringing many of them, on a real Redis with redis-py's
default protocol (RESP3, where hiredis gives each message as a ``PushNotification``)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

from liveroom.engine.redis import RedisEngine
from tests.conftest import make_settings
from tests.timeouts import scaled

EVENTS = 2000


async def test_a_burst_of_room_events_reaches_the_handlers_in_order_without_handle_message(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    handled: list[Any] = []
    real = PubSub.handle_message

    async def counted(
        pubsub: PubSub, response: Any, ignore_subscribe_messages: bool = False
    ) -> Any:
        handled.append(response[0] if isinstance(response, list) else response)
        return await real(pubsub, response, ignore_subscribe_messages)

    monkeypatch.setattr(PubSub, "handle_message", counted)
    engine = RedisEngine(
        make_settings(redis_url=redis_url, redis_prefix="ps-" + uuid.uuid4().hex[:8])
    )
    await engine.open()
    publisher = aioredis.Redis.from_url(redis_url)
    got: dict[str, list[bytes]] = {"a": [], "b": []}
    done = asyncio.Event()

    def handler(room: str, payload: bytes) -> None:
        got[room].append(payload)
        if sum(map(len, got.values())) == EVENTS:
            done.set()

    try:
        await engine.subscribe("a", handler)
        await engine.subscribe("b", handler)
        channels = {room: engine.keys(room).channel for room in got}
        async with publisher.pipeline(transaction=False) as pipe:
            for n in range(EVENTS):
                room = "ab"[n % 2]
                pipe.publish(channels[room], b"%d" % n)
            await pipe.execute()  # all at once: the reader finds many in one read
        await asyncio.wait_for(done.wait(), scaled(20))
        assert got["a"] == [b"%d" % n for n in range(0, EVENTS, 2)]
        assert got["b"] == [b"%d" % n for n in range(1, EVENTS, 2)]
        assert b"message" not in handled, "a room event went the slow way"
        assert b"subscribe" in handled, "confirmations still go through redis-py"
    finally:
        await publisher.aclose()
        await engine.close()
