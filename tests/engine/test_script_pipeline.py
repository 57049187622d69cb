"""Script calls of one loop turn share one pipeline on a standalone Redis (``Scripts``): each
caller still gets its own reply or its own error, in the order the calls were made."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from liveroom.engine.redis import RedisEngine
from liveroom.engine.scripts import pipeline
from liveroom.errors import EngineUnavailable
from tests.conftest import make_settings
from tests.redis_servers import RedisProcess

BODY = orjson.dumps({"type": "comment", "text": "hi"})


@pytest.fixture
async def private(private_redis: list[RedisProcess]) -> AsyncIterator[RedisProcess]:
    """A redis-server of this test's own, so that its client count is the engine's."""
    server = RedisProcess().start()
    private_redis.append(server)
    yield server


@pytest.fixture
async def engine(private: RedisProcess) -> AsyncIterator[RedisEngine]:
    eng = RedisEngine(make_settings(engine="redis", redis_url=private.url, redis_prefix="sp"))
    await eng.open()
    try:
        yield eng
    finally:
        await eng.close()


def offset(payload: bytes) -> int:
    return int(orjson.loads(payload)["offset"])


async def test_calls_of_one_turn_share_one_connection(
    engine: RedisEngine, private: RedisProcess
) -> None:
    """200 publishes made at once get offsets 1..200 in call order over one or two connections
    (one call each would have taken 200 of the pool's)."""
    payloads = await asyncio.gather(*(engine.publish("r1", BODY) for _ in range(200)))
    assert [offset(p) for p in payloads] == list(range(1, 201))
    probe = aioredis.Redis.from_url(private.url)
    try:
        clients = (await probe.info("clients"))["connected_clients"]
    finally:
        await probe.aclose()
    # the probe, the engine's pub/sub and bell connections, and the pipelines' connection(s)
    assert clients <= 5, clients


async def test_calls_on_a_ready_lane_are_answered_without_a_task(
    engine: RedisEngine, private: RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the lane is connected, a turn's calls are written where they are queued and
    answered where the replies arrive, with no task; after the lane's connection is killed,
    the next pipeline finds it lost, and a task connects again and sends it."""
    scripts = engine.scripts
    started: list[str] = []
    real = type(scripts)._start

    def counted(self: object, work: object) -> None:
        started.append(getattr(work, "__name__", "?"))
        real(self, work)  # type: ignore[arg-type]

    monkeypatch.setattr(type(scripts), "_start", counted)
    await engine.publish("r1", BODY)  # the first: connects the lane, in a task
    assert started == ["_send"]
    for round_ in range(5):
        payloads = await asyncio.gather(*(engine.publish("r1", BODY) for _ in range(10)))
        assert [offset(p) for p in payloads] == list(range(2 + 10 * round_, 12 + 10 * round_))
    assert started == ["_send"], "a call on the ready lane went through a task"
    probe = aioredis.Redis.from_url(private.url)
    try:
        for client in await probe.client_list():
            if client["cmd"] == "evalsha":
                await probe.client_kill_filter(_id=client["id"])
    finally:
        await probe.aclose()
    lane = scripts._lane
    assert lane is not None
    deadline = asyncio.get_running_loop().time() + 5.0
    while lane.ready() is not None:  # the kill reaches the lane
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    assert offset(await engine.publish("r1", BODY)) == 52
    assert started == ["_send", "_send"]


async def test_an_argument_no_command_can_carry_fails_its_turn_and_hangs_nobody(
    engine: RedisEngine,
) -> None:
    """On a ready lane a call whose argument cannot be packed (``None``) fails, and so does
    every call of its turn (the pipeline could not be written), as on the task's path; the
    next turn's calls go through."""
    await engine.publish("r1", BODY)  # the lane is connected
    k = engine.keys("r1")
    bad = engine.scripts.run(
        "publish", [k.seq, k.log, k.comments, k.epoch], [k.channel, None, 100, 0, 0, "PUBLISH", "x"]
    )
    results = await asyncio.wait_for(
        asyncio.gather(bad, engine.publish("r1", BODY), return_exceptions=True), 5.0
    )
    assert [type(r).__name__ for r in results] == ["DataError", "DataError"], results
    assert offset(await engine.publish("r1", BODY)) == 2


async def test_a_refused_call_fails_alone(engine: RedisEngine) -> None:
    """A call Redis refuses (its room's counter is not a number) gets its own error; the calls
    beside it in the same pipeline succeed."""
    await engine.client.hset(engine.keys("bad").seq, "x", "1")
    results = await asyncio.gather(
        engine.publish("r1", BODY),
        engine.publish("bad", BODY),
        engine.publish("r1", BODY),
        return_exceptions=True,
    )
    assert isinstance(results[1], ResponseError), results[1]
    assert [offset(results[0]), offset(results[2])] == [1, 2]  # type: ignore[arg-type]


async def test_calls_after_a_script_flush_load_the_script_again(engine: RedisEngine) -> None:
    """Redis lost its scripts (a restart, a failover): every call of the pipeline answered
    NOSCRIPT is made again, in order, and succeeds."""
    await engine.publish("r1", BODY)
    await engine.client.script_flush()
    payloads = await asyncio.gather(*(engine.publish("r1", BODY) for _ in range(20)))
    assert [offset(p) for p in payloads] == list(range(2, 22))


async def test_an_unreachable_redis_fails_every_call(
    engine: RedisEngine, private: RedisProcess
) -> None:
    """With Redis gone, every caller of the pipeline gets ``EngineUnavailable``."""
    await engine.publish("r1", BODY)
    private.kill()
    results = await asyncio.gather(
        *(engine.publish("r1", BODY) for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(r, EngineUnavailable) for r in results), results


# ---------------------------------------------------------------------- the pipeline itself


@pytest.fixture
async def pool(redis_url: str) -> AsyncIterator[aioredis.BlockingConnectionPool]:
    """A pool of one connection: a connection not given back, or given back with a reply
    unread, shows in the next call."""
    pool = aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=1, timeout=2)
    try:
        yield pool
    finally:
        await pool.disconnect()


async def blocked_in_blpop(admin: aioredis.Redis, name: str) -> int:
    """The id of client ``name`` once Redis has it waiting in a BLPOP."""
    async with asyncio.timeout(10):
        while True:
            for client in await admin.client_list():
                if client["name"] == name and client["cmd"] == "blpop":
                    return int(client["id"])
            await asyncio.sleep(0.01)


async def test_the_pipeline_answers_in_order_with_a_refusal_in_its_place(
    pool: aioredis.BlockingConnectionPool, prefix: str
) -> None:
    key = f"{prefix}:n"
    replies = await pipeline(
        pool, [("INCR", key), ("HGET", key, "x"), ("INCRBY", key, 2), ("EVALSHA", "0" * 40, 0)]
    )
    assert replies[0] == 1 and replies[2] == 3
    assert isinstance(replies[1], ResponseError) and "WRONGTYPE" in str(replies[1])
    assert isinstance(replies[3], NoScriptError)
    # the connection went back with nothing unread: the next call reads its own reply
    assert await pipeline(pool, [("GET", key)]) == [b"3"]


async def test_a_pipeline_cancelled_while_waiting_leaves_no_reply_behind(
    pool: aioredis.BlockingConnectionPool, admin: aioredis.Redis, prefix: str
) -> None:
    """Cancelled while Redis holds its reply back (a blocking pop): the connection is closed
    before it goes back, so the pop's late reply never reaches the next call, and the pool's
    only connection is free again."""
    key, name = f"{prefix}:list", f"{prefix}-cancelled"
    waiting = asyncio.create_task(pipeline(pool, [("CLIENT", "SETNAME", name), ("BLPOP", key, 10)]))
    await blocked_in_blpop(admin, name)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    async with asyncio.timeout(5):
        while [c for c in await admin.client_list() if c["name"] == name]:
            await asyncio.sleep(0.01)  # closed: Redis has let go of the pop
    await admin.rpush(key, "late")  # had the pop stayed, it would have taken this
    async with asyncio.timeout(5):
        assert await pipeline(pool, [("LLEN", key), ("PING",)]) == [1, b"PONG"]


async def test_a_killed_connection_raises_and_the_pool_connects_again(
    pool: aioredis.BlockingConnectionPool, admin: aioredis.Redis, prefix: str
) -> None:
    name = f"{prefix}-killed"
    waiting = asyncio.create_task(
        pipeline(pool, [("CLIENT", "SETNAME", name), ("BLPOP", f"{prefix}:none", 10)])
    )
    await admin.client_kill_filter(_id=await blocked_in_blpop(admin, name))
    with pytest.raises(RedisConnectionError):
        await waiting
    async with asyncio.timeout(5):
        assert await pipeline(pool, [("PING",)]) == [b"PONG"]


async def test_replies_past_the_socket_timeout_raise_and_close_the_connection(
    redis_url: str, admin: aioredis.Redis, prefix: str
) -> None:
    """The replies share one deadline, the connection's socket timeout: a reply held back past
    it raises redis-py's ``TimeoutError``, and the connection is closed before it goes back,
    so the held reply never reaches the next call."""
    pool = aioredis.BlockingConnectionPool.from_url(
        redis_url, max_connections=1, timeout=2, socket_timeout=0.3
    )
    key, name = f"{prefix}:slow", f"{prefix}-slow"
    try:
        with pytest.raises(RedisTimeoutError):
            await pipeline(pool, [("CLIENT", "SETNAME", name), ("PING",), ("BLPOP", key, 5)])
        async with asyncio.timeout(5):
            while [c for c in await admin.client_list() if c["name"] == name]:
                await asyncio.sleep(0.01)  # closed: Redis has let go of the pop
        await admin.rpush(key, "late")
        assert await pipeline(pool, [("LLEN", key), ("PING",)]) == [1, b"PONG"]
        # replies that come in time, however many, are all read under the one deadline
        assert await pipeline(pool, [("PING",)] * 500) == [b"PONG"] * 500
    finally:
        await pool.disconnect()


async def test_a_socket_timeout_error_while_reading_raises_and_closes_the_connection(
    pool: aioredis.BlockingConnectionPool, admin: aioredis.Redis, prefix: str
) -> None:
    """An ETIMEDOUT from the socket (TCP keep-alive gave up on the peer) while the replies are
    read is a lost connection: it raises, and the connection is closed, never put back with
    its replies read as ``None``."""
    name = f"{prefix}-etimedout"
    connection = await pool.get_connection()
    await pool.release(connection)  # the pool's only connection: the pipeline's
    waiting = asyncio.create_task(
        pipeline(pool, [("CLIENT", "SETNAME", name), ("BLPOP", f"{prefix}:none", 10)])
    )
    await blocked_in_blpop(admin, name)
    # what uvloop hands the stream reader for a socket's ETIMEDOUT (redis-py's private reader)
    connection._reader.set_exception(TimeoutError(errno.ETIMEDOUT, "Connection timed out"))
    with pytest.raises((RedisTimeoutError, RedisConnectionError)):
        await waiting
    assert not connection.is_connected
    async with asyncio.timeout(5):
        assert await pipeline(pool, [("PING",)]) == [b"PONG"]


async def test_after_a_redis_restart_no_pooled_connection_fails_a_call(
    engine: RedisEngine, private: RedisProcess
) -> None:
    """Redis killed and started again: the engine's pool hands out none of the connections
    the old server closed. Each of 8 calls made at once takes a pooled connection of its own,
    and every one succeeds. (redis-py 8.1's pool skipped that check by default, and each of
    them failed once: a script call sent again then met the next one, and answered
    ``unavailable``.)"""
    pool = engine.client.connection_pool
    held = [await pool.get_connection() for _ in range(8)]  # 8 connections, open
    for connection in held:
        await pool.release(connection)
    assert await asyncio.gather(*(pipeline(pool, [("PING",)]) for _ in range(8))) == [[b"PONG"]] * 8
    # in threads: the loop meanwhile reads the old server's end of each connection, as it
    # does in a real outage (called here, they would block it until the new one is up)
    await asyncio.to_thread(private.kill)
    await asyncio.to_thread(private.start)
    replies = await asyncio.gather(
        *(pipeline(pool, [("PING",)]) for _ in range(8)), return_exceptions=True
    )
    assert replies == [[b"PONG"]] * 8, replies
    payloads = await asyncio.gather(*(engine.publish(f"r{n}", BODY) for n in range(8)))
    assert [offset(p) for p in payloads] == [1] * 8
