"""The script pipelines' own connection (``Lane``): replies to the right caller, in order, and
the pool's failures (a refused command, a lost connection, a late reply), on a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from unittest.mock import ANY

import pytest
import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import AuthenticationError, NoScriptError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from liveroom.engine.lane import Lane
from liveroom.engine.packing import fast_packing
from liveroom.engine.redis import RedisEngine
from tests.conftest import make_settings
from tests.engine.test_script_pipeline import BODY, blocked_in_blpop, offset
from tests.processes import free_port
from tests.redis_servers import RedisProcess


def lane_of(url: str, **options: object) -> Lane:
    lane = Lane.of(aioredis.BlockingConnectionPool.from_url(url, **options))
    assert lane is not None
    return lane


@pytest.fixture
async def lane(redis_url: str) -> AsyncIterator[Lane]:
    made = lane_of(redis_url)
    try:
        yield made
    finally:
        await made.aclose()


async def clients_named(admin: aioredis.Redis, name: str) -> list[dict[str, str]]:
    return [c for c in await admin.client_list() if c["name"] == name]


@pytest.mark.parametrize("protocol", [2, 3])
async def test_replies_in_order_with_a_refusal_in_its_place(
    redis_url: str, prefix: str, protocol: int
) -> None:
    """On RESP2 and RESP3 alike: each command's reply in its place, a refused one as its own
    ``ResponseError``, an unknown script as ``NoScriptError``, a nil as None."""
    made = lane_of(redis_url, protocol=protocol)
    key = f"{prefix}:n"
    try:
        replies = await made.pipeline(
            [
                ("SET", key, 3),
                ("HSET", key, "f", 1),
                ("EVALSHA", "0" * 40, 0),
                ("GET", f"{prefix}:none"),
                ("INCR", key),
                ("EVAL", "redis.setresp(3); return false", 0),
                ("ECHO", "after"),
            ]
        )
    finally:
        await made.aclose()
    assert replies[0] == b"OK"
    assert isinstance(replies[1], ResponseError) and "WRONGTYPE" in str(replies[1])
    assert isinstance(replies[2], NoScriptError)
    assert replies[3:5] == [None, 4]
    # a reply of false (RESP3) is a reply, not "nothing yet": the next one follows it
    assert replies[5:] == [False if protocol == 3 else 0, b"after"]
    assert protocol == 2 or replies[5] is False


async def test_pipelines_made_at_once_each_get_their_own_replies(lane: Lane) -> None:
    """300 pipelines of different sizes written before any reply is read: every caller gets
    exactly its own replies."""

    async def one(n: int) -> list[object]:
        return await lane.pipeline([("ECHO", f"{n}.{i}") for i in range(n % 7 + 1)])

    results = await asyncio.gather(*(one(n) for n in range(300)))
    for n, replies in enumerate(results):
        assert replies == [f"{n}.{i}".encode() for i in range(n % 7 + 1)]


async def test_a_big_pipeline_comes_back_whole(lane: Lane, prefix: str) -> None:
    """Replies that arrive over many reads (2,000 values of 1 kB) are put together in order."""
    value = b"x" * 1000
    key = f"{prefix}:big"
    await lane.pipeline([("RPUSH", key, value + b"%d" % i) for i in range(2000)])
    replies = await lane.pipeline([("LINDEX", key, i) for i in range(2000)])
    assert replies == [value + b"%d" % i for i in range(2000)]


async def test_a_cancelled_caller_leaves_no_reply_behind(
    lane: Lane, admin: aioredis.Redis, prefix: str
) -> None:
    """A caller cancelled while Redis still holds its command: the reply, when it comes, is
    dropped, and the next pipeline on the lane gets its own replies."""
    key, name = f"{prefix}:q", f"{prefix}-cancelled"
    waiting = asyncio.create_task(lane.pipeline([("CLIENT", "SETNAME", name), ("BLPOP", key, 10)]))
    await blocked_in_blpop(admin, name)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await admin.rpush(key, "for the cancelled one")
    async with asyncio.timeout(5):
        assert await lane.pipeline([("LLEN", key), ("ECHO", "mine")]) == [0, b"mine"]


async def test_a_killed_connection_fails_its_pipelines_and_the_next_connects_again(
    lane: Lane, admin: aioredis.Redis, prefix: str
) -> None:
    """Redis closes the lane's connection while a pipeline waits: that pipeline, and one
    written behind it, fail with redis-py's ``ConnectionError``; the next one connects anew."""
    name = f"{prefix}-killed"
    first = asyncio.create_task(
        lane.pipeline([("CLIENT", "SETNAME", name), ("BLPOP", f"{prefix}:none", 10)])
    )
    client_id = await blocked_in_blpop(admin, name)
    second = asyncio.create_task(lane.pipeline([("PING",)]))
    await admin.client_kill_filter(_id=client_id)
    for task in (first, second):
        with pytest.raises(RedisConnectionError):
            await task
    async with asyncio.timeout(5):
        assert await lane.pipeline([("PING",)]) == [b"PONG"]
        assert await clients_named(admin, name) == []  # a new connection, without that name


async def test_a_later_pipeline_gets_its_own_full_timeout(
    redis_url: str, admin: aioredis.Redis, prefix: str
) -> None:
    """The watchdog armed for a pipeline that was answered in time looks again at the next one
    waiting: that one fails at its own deadline, not at the first one's."""
    made = lane_of(redis_url, socket_timeout=0.3)
    loop = asyncio.get_running_loop()
    try:
        assert await made.pipeline([("ECHO", "quick")]) == [b"quick"]  # arms the watchdog
        sent = loop.time()
        with pytest.raises(RedisTimeoutError):
            await made.pipeline([("BLPOP", f"{prefix}:none", 5)])
        assert loop.time() - sent >= 0.3
    finally:
        await made.aclose()


async def test_replies_past_the_socket_timeout_fail_and_close_the_connection(
    redis_url: str, admin: aioredis.Redis, prefix: str
) -> None:
    """The oldest pipeline's replies overdue by the socket timeout: it and those behind it fail
    with redis-py's ``TimeoutError``, the connection is closed (Redis lets go of the pop), and
    its late reply never reaches a later caller."""
    made = lane_of(redis_url, socket_timeout=0.3)
    key, name = f"{prefix}:slow", f"{prefix}-slow"
    try:
        first = asyncio.create_task(
            made.pipeline([("CLIENT", "SETNAME", name), ("PING",), ("BLPOP", key, 5)])
        )
        second = asyncio.create_task(made.pipeline([("ECHO", "behind")]))
        for task in (first, second):
            with pytest.raises(RedisTimeoutError):
                await task
        async with asyncio.timeout(5):
            while await clients_named(admin, name):
                await asyncio.sleep(0.01)
        await admin.rpush(key, "late")
        assert await made.pipeline([("LLEN", key), ("ECHO", "next")]) == [1, b"next"]
        # replies that come in time, however many, never trip the timeout
        assert await made.pipeline([("ECHO", "x")] * 500) == [b"x"] * 500
    finally:
        await made.aclose()


async def test_a_new_connection_takes_the_password_database_and_name(
    private_redis: list[RedisProcess],
) -> None:
    """Like the pool's connections, the lane's logs in, picks the URL's database and names
    itself; a wrong password is redis-py's ``AuthenticationError``."""
    server = RedisProcess().start()
    private_redis.append(server)
    setup = aioredis.Redis.from_url(server.url)
    try:
        await setup.config_set("requirepass", "sesame")
    finally:
        await setup.aclose()
    url = f"redis://:sesame@127.0.0.1:{server.port}/5?client_name=lane-test"
    for protocol in (2, 3):
        made = lane_of(url, protocol=protocol)
        try:
            replies = await made.pipeline([("CLIENT", "INFO"), ("SET", "k", protocol)])
        finally:
            await made.aclose()
        info = replies[0].decode()
        assert " db=5 " in info and " name=lane-test " in info, info
    check = aioredis.Redis.from_url(url)
    try:
        assert await check.get("k") == b"3"
    finally:
        await check.aclose()
    wrong = lane_of(f"redis://:nope@127.0.0.1:{server.port}/0")
    try:
        with pytest.raises(AuthenticationError):
            await wrong.pipeline([("PING",)])
    finally:
        await wrong.aclose()


async def test_a_refusal_redis_py_raises_as_lost_fails_the_lane(
    private_redis: list[RedisProcess],
) -> None:
    """ "max number of clients reached" is a lost connection to redis-py, not a refusal in its
    place: the pipeline fails with ``ConnectionError`` (so ``Scripts`` may send it again), and
    the next one connects anew."""
    server = RedisProcess().start()
    private_redis.append(server)
    admin = aioredis.Redis.from_url(server.url)
    made = lane_of(server.url)
    try:
        await admin.ping()
        await admin.config_set("maxclients", 1)
        with pytest.raises(RedisConnectionError, match="max number of clients"):
            await made.pipeline([("PING",)])
        await admin.config_set("maxclients", 100)
        assert await made.pipeline([("ECHO", "in")]) == [b"in"]
    finally:
        await made.aclose()
        await admin.aclose()


async def test_callers_waiting_for_a_connection_that_fails_all_fail() -> None:
    """Several pipelines wait for one connection that cannot be made: each gets
    ``ConnectionError``."""
    made = lane_of(f"redis://127.0.0.1:{free_port()}/0")
    try:
        results = await asyncio.gather(
            *(made.pipeline([("PING",)]) for _ in range(5)), return_exceptions=True
        )
    finally:
        await made.aclose()
    assert all(isinstance(r, RedisConnectionError) for r in results), results


async def test_closing_while_connecting_fails_the_waiting_callers(
    private_redis: list[RedisProcess],
) -> None:
    """The lane closed while its connection is being made (the server is frozen: its handshake,
    a ``SELECT``, gets no answer): the caller waiting for it fails at once with
    ``ConnectionError``, not at the 30 s socket timeout."""
    server = RedisProcess().start()
    private_redis.append(server)
    made = lane_of(f"redis://127.0.0.1:{server.port}/2", socket_timeout=30)
    server.freeze()
    try:
        waiting = asyncio.create_task(made.pipeline([("PING",)]))
        await asyncio.sleep(0)  # one loop turn: the caller starts the connect
        await made.aclose()
        async with asyncio.timeout(5):
            with pytest.raises(RedisConnectionError):
                await waiting
    finally:
        server.thaw()


async def test_a_unix_socket_lane_connects(private_redis: list[RedisProcess]) -> None:
    """A Redis reached by its Unix socket: the lane connects there and answers."""
    server = RedisProcess("--unixsocket", "redis.sock", "--unixsocketperm", "700").start()
    private_redis.append(server)
    made = lane_of(f"unix://{server.dir / 'redis.sock'}?db=3")
    try:
        assert await made.pipeline([("CLIENT", "INFO"), ("ECHO", "u")]) == [ANY, b"u"]
    finally:
        await made.aclose()


async def test_an_unreachable_redis_fails_and_a_restarted_one_is_reached_again(
    private_redis: list[RedisProcess],
) -> None:
    """No Redis: a pipeline fails with ``ConnectionError`` at once. The server back on its
    port: the next pipeline connects."""
    server = RedisProcess().start()
    private_redis.append(server)
    made = lane_of(server.url)
    try:
        assert await made.pipeline([("ECHO", "a")]) == [b"a"]
        await asyncio.to_thread(server.kill)
        with pytest.raises(RedisConnectionError):
            await made.pipeline([("ECHO", "b")])
        await asyncio.to_thread(server.start)
        assert await made.pipeline([("ECHO", "c")]) == [b"c"]
    finally:
        await made.aclose()


def test_tls_sentinel_and_decoded_replies_stay_on_the_pool() -> None:
    """The lane makes plain TCP and Unix-socket connections only (the engine's ``fast_packing``
    ones too), with bytes replies; other pools keep their pooled pipelines."""
    assert Lane.of(aioredis.BlockingConnectionPool.from_url("rediss://127.0.0.1:1/0")) is None
    pool = aioredis.BlockingConnectionPool.from_url("redis://127.0.0.1:1/0", decode_responses=True)
    assert Lane.of(pool) is None
    sentinel = Sentinel([("127.0.0.1", 1)]).master_for("primary").connection_pool
    assert Lane.of(sentinel) is None
    assert Lane.of(aioredis.BlockingConnectionPool.from_url("unix:///tmp/none.sock")) is not None
    fast = aioredis.BlockingConnectionPool.from_url("redis://127.0.0.1:1/0")
    fast.connection_class = fast_packing(fast.connection_class)
    assert Lane.of(fast) is not None


async def test_the_engine_sends_its_scripts_on_its_lane_and_closes_it(
    private_redis: list[RedisProcess],
) -> None:
    """An engine's script calls do not wait for the pool: with every pooled connection taken,
    100 publishes still go, on the lane. Closing the engine closes the lane, also with a client
    the engine was given (and does not close)."""
    server = RedisProcess().start()
    private_redis.append(server)
    settings = make_settings(engine="redis", redis_url=server.url, redis_prefix="ln")
    warm = RedisEngine(settings)  # loads the script: the calls below are not told NOSCRIPT
    await warm.open()
    await warm.publish("r0", BODY)
    await warm.close()
    pool = aioredis.BlockingConnectionPool.from_url(server.url, max_connections=4, timeout=0.2)
    client = aioredis.Redis(connection_pool=pool)
    engine = RedisEngine(settings, client=client)
    await engine.open()
    probe = aioredis.Redis.from_url(server.url)
    try:
        held = []
        with pytest.raises(RedisConnectionError, match="No connection available"):
            while True:  # every connection the pool has, the pub/sub's aside
                held.append(await pool.get_connection())
        try:
            async with asyncio.timeout(10):
                payloads = await asyncio.gather(*(engine.publish("r1", BODY) for _ in range(100)))
        finally:
            for connection in held:
                await pool.release(connection)
        assert [offset(p) for p in payloads] == list(range(1, 101))
        lanes = [c["id"] for c in await probe.client_list() if c["cmd"] == "evalsha"]
        assert len(lanes) == 1, lanes
        await engine.close()
        async with asyncio.timeout(5):
            while {c["id"] for c in await probe.client_list()} & set(lanes):
                await asyncio.sleep(0.01)
    finally:
        await engine.close()
        await probe.aclose()
        await client.aclose()
