"""The Redis engine's pub/sub read, on a real Redis.

On a plain TCP connection the engine reads pub/sub on a connection of its own, in the protocol
(``listener.py``): room events go from hiredis straight to their room's handler, with no task and
no redis-py ``PubSub``. Where that connection cannot be made as the pool makes its own (here, a
connection class of its own), redis-py's ``PubSub`` is read directly instead, and only the
confirmations go through its ``handle_message``. Both are checked on RESP2 and RESP3 (where
hiredis gives each message as a ``PushNotification``), and both after a killed connection.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import Connection

from liveroom.engine.listener import ListenerProtocol
from liveroom.engine.redis import RedisEngine
from tests.conftest import make_settings
from tests.timeouts import scaled

EVENTS = 2000


class OwnConnection(Connection):
    """A connection class of the application's own: the engine leaves its reads to redis-py."""


def engine_on(url: str, own_class: bool, name: str) -> RedisEngine:
    settings = make_settings(redis_url=url, redis_prefix="ps-" + uuid.uuid4().hex[:8])
    if not own_class:
        return RedisEngine(settings)
    pool = aioredis.BlockingConnectionPool.from_url(url, connection_class=OwnConnection)
    pool.connection_kwargs["client_name"] = name
    return RedisEngine(settings, aioredis.Redis(connection_pool=pool))


@pytest.fixture
def handled(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The replies redis-py's ``PubSub.handle_message`` was given, by their kind."""
    seen: list[Any] = []
    real = PubSub.handle_message

    async def counted(
        pubsub: PubSub, response: Any, ignore_subscribe_messages: bool = False
    ) -> Any:
        seen.append(response[0] if isinstance(response, list) else response)
        return await real(pubsub, response, ignore_subscribe_messages)

    monkeypatch.setattr(PubSub, "handle_message", counted)
    return seen


@pytest.fixture
async def publisher(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def until(check: Callable[[], bool], timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def burst(engine: RedisEngine, publisher: aioredis.Redis) -> dict[str, list[bytes]]:
    """``EVENTS`` events over two rooms, all sent at once; what each room's handler got."""
    got: dict[str, list[bytes]] = {"a": [], "b": []}
    done = asyncio.Event()

    def handler(room: str, payload: bytes) -> None:
        got[room].append(payload)
        if sum(map(len, got.values())) == EVENTS:
            done.set()

    await engine.subscribe("a", handler)
    await engine.subscribe("b", handler)
    channels = {room: engine.keys(room).channel for room in got}
    async with publisher.pipeline(transaction=False) as pipe:
        for n in range(EVENTS):
            pipe.publish(channels["ab"[n % 2]], b"%d" % n)
        await pipe.execute()  # all at once: one read brings many
    await asyncio.wait_for(done.wait(), scaled(20))
    return got


@pytest.mark.parametrize("protocol", [2, 3])
async def test_room_events_are_read_in_the_protocol_in_order(
    redis_url: str, publisher: aioredis.Redis, handled: list[Any], protocol: int
) -> None:
    engine = engine_on(f"{redis_url}?protocol={protocol}", False, "")
    await engine.open()
    try:
        got = await burst(engine, publisher)
        assert got["a"] == [b"%d" % n for n in range(0, EVENTS, 2)]
        assert got["b"] == [b"%d" % n for n in range(1, EVENTS, 2)]
        assert isinstance(engine._wire, ListenerProtocol)
        assert engine._pubsub is None
        assert handled == [], "redis-py's pub/sub read a reply"
    finally:
        await engine.close()
    assert engine._wire is None or engine._wire.lost is not None  # closed with the engine


@pytest.mark.parametrize("protocol", [2, 3])
async def test_a_connection_class_of_its_own_is_read_through_redis_py(
    redis_url: str, publisher: aioredis.Redis, handled: list[Any], protocol: int
) -> None:
    engine = engine_on(f"{redis_url}?protocol={protocol}", True, "own-" + uuid.uuid4().hex[:6])
    await engine.open()
    try:
        got = await burst(engine, publisher)
        assert got["a"] == [b"%d" % n for n in range(0, EVENTS, 2)]
        assert got["b"] == [b"%d" % n for n in range(1, EVENTS, 2)]
        assert engine._wire is None
        assert b"message" not in handled, "a room event went the slow way"
        assert b"subscribe" in handled, "confirmations go through redis-py"
    finally:
        await engine.close()
        await engine.client.aclose()


@pytest.mark.parametrize("own_class", [False, True], ids=["own-connection", "redis-py"])
async def test_a_failing_handler_stops_no_other_rooms_events(
    redis_url: str, publisher: aioredis.Redis, own_class: bool
) -> None:
    engine = engine_on(redis_url, own_class, "fail-" + uuid.uuid4().hex[:6])
    await engine.open()
    got: list[bytes] = []

    def broken(room: str, payload: bytes) -> None:
        raise RuntimeError("a broken room")

    try:
        await engine.subscribe("broken", broken)
        await engine.subscribe("fine", lambda room, payload: got.append(payload))
        async with publisher.pipeline(transaction=False) as pipe:
            for n in range(10):
                pipe.publish(engine.keys("broken").channel, b"x")
                pipe.publish(engine.keys("fine").channel, b"%d" % n)
            await pipe.execute()
        await until(lambda: len(got) == 10, scaled(10))
        assert got == [b"%d" % n for n in range(10)]
        assert engine.connected.is_set()
    finally:
        await engine.close()
        if own_class:
            await engine.client.aclose()


@pytest.mark.parametrize("own_class", [False, True], ids=["own-connection", "redis-py"])
async def test_a_killed_pub_sub_connection_is_made_again_with_every_room(
    redis_url: str, publisher: aioredis.Redis, own_class: bool
) -> None:
    """Redis drops the pub/sub connection: the engine connects again, subscribes every room
    in one command, tells its reconnect listeners once all are confirmed, and events flow."""
    name = "sub-" + uuid.uuid4().hex[:8]
    url = redis_url if own_class else f"{redis_url}?client_name={name}"
    engine = engine_on(url, own_class, name)
    await engine.open()
    rooms = [f"r{i}" for i in range(50)]
    got: dict[str, list[bytes]] = {room: [] for room in rooms}
    back: list[int] = []
    engine.add_reconnect_listener(lambda: back.append(1))
    try:
        for room in rooms:
            await engine.subscribe(room, lambda room, payload: got[room].append(payload))

        async def subscribers() -> list[dict[str, Any]]:
            """The engine's pub/sub connection for rooms (on its own connection there is also
            the bells', with its one channel: ``events_at_tick``)."""
            clients = await publisher.client_list()
            return [c for c in clients if c.get("name") == name and int(c.get("sub", 0)) > 1]

        listening = await subscribers()
        assert [int(c["sub"]) for c in listening] == [50]
        await publisher.client_kill_filter(_id=listening[0]["id"])
        await until(lambda: back == [1], scaled(10))
        assert [int(c["sub"]) for c in await subscribers()] == [50]
        assert engine.connected.is_set()
        for room in rooms:
            await publisher.publish(engine.keys(room).channel, b"after")
        await until(lambda: all(got[room] == [b"after"] for room in rooms), scaled(10))
    finally:
        await engine.close()
        if own_class:
            await engine.client.aclose()
