"""``FastPacking.pack_command`` puts the same bytes on the wire as redis-py's own, and refuses
what redis-py refuses, packing in C (``liveroom._respack``) and in Python alike; a client with it
talks to a real Redis."""

from __future__ import annotations

import asyncio
from enum import IntEnum
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError

from liveroom import _respack  # an ImportError: the C packing was not built
from liveroom.engine import packing
from liveroom.engine.packing import FastPacking, fast_packing


class Level(IntEnum):
    LOW = 1


class Text(str):
    pass


BIG = b"v" * 7000  # over redis-py's 6,000-byte cutoff: a chunk of its own
CASES: list[tuple[Any, ...]] = [
    ("GET", "key"),
    ("SET", b"key", "valüe", "PX", 1500),
    ("CONFIG GET", "maxmemory"),
    (b"SCRIPT LOAD", "return 1"),
    ("EVALSHA", "ab" * 20, 2, "k1", b"k2", 0, -17, 3.5, 1e20, float("inf")),
    ("SET", "big", BIG),
    ("SET", "view", memoryview(b"abc")),
    ("SET", "array", bytearray(b"xyz")),
    ("SET", "enum", Level.LOW),
    ("SET", "sub", Text("sub")),
    ("MSET", *[f"k{n}" for n in range(2000)]),  # a buffer that outgrows the cutoff
    ("HSET", "h", *[b"x" * 500 for _ in range(30)], BIG, "tail"),
    ("PING",),
]


@pytest.fixture(autouse=True, params=["c", "python"])
def packer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs with the C packing and again with the loop in Python."""
    assert packing.c_pack is _respack.pack
    if request.param == "python":
        monkeypatch.setattr(packing, "c_pack", None)
    return str(request.param)


def _pair(**options: Any) -> tuple[Connection, Connection]:
    theirs = Connection(**options)
    ours = fast_packing(Connection)(**options)
    return theirs, ours


def _wire(chunks: list[Any]) -> bytes:
    return b"".join(bytes(chunk) for chunk in chunks)


@pytest.mark.parametrize("args", CASES, ids=lambda args: str(args[0])[:12])
def test_the_same_bytes_as_redis_py(args: tuple[Any, ...]) -> None:
    theirs, ours = _pair()
    assert _wire(ours.pack_command(*args)) == _wire(theirs.pack_command(*args))


def test_a_pipeline_packs_the_same_bytes() -> None:
    theirs, ours = _pair()
    commands = [case for case in CASES if case[0] != "PING"]
    assert _wire(ours.pack_commands(commands)) == _wire(theirs.pack_commands(commands))


def test_a_big_value_is_not_copied_into_the_command() -> None:
    _, ours = _pair()
    view = memoryview(BIG)
    chunks = ours.pack_command("SET", "key", view, "KEEPTTL")
    assert any(chunk is view for chunk in chunks)
    assert any(chunk is BIG for chunk in ours.pack_command("SET", "key", BIG))


def test_another_encoding_is_honoured() -> None:
    theirs, ours = _pair(encoding="latin-1", encoding_errors="replace")
    args = ("SET", "k", "café ☕")
    assert _wire(ours.pack_command(*args)) == _wire(theirs.pack_command(*args))


@pytest.mark.parametrize("bad", [True, None, object(), [1]])
def test_what_redis_py_refuses_is_refused(bad: Any) -> None:
    theirs, ours = _pair()
    with pytest.raises(DataError):
        theirs.pack_command("SET", "k", bad)
    with pytest.raises(DataError):
        ours.pack_command("SET", "k", bad)


def test_one_class_per_base() -> None:
    for base in (Connection, SSLConnection, UnixDomainSocketConnection):
        made = fast_packing(base)
        assert issubclass(made, FastPacking) and issubclass(made, base)
        assert fast_packing(base) is made and fast_packing(made) is made


def test_a_real_redis_reads_what_it_packs(redis_url: str) -> None:
    async def body() -> None:
        pool = aioredis.ConnectionPool.from_url(redis_url)
        pool.connection_class = fast_packing(pool.connection_class)
        client = aioredis.Redis(connection_pool=pool)
        key = "liveroom:test:packing"
        try:
            await client.set(key, "valüe ☕")
            assert (await client.get(key)).decode() == "valüe ☕"
            await client.set(key, BIG)
            assert await client.get(key) == BIG
            fields = {f"f{n}": n for n in range(500)}
            await client.hset(key + ":h", mapping=fields)
            assert await client.hget(key + ":h", "f499") == b"499"
            async with client.pipeline(transaction=False) as pipe:
                pipe.incrby(key + ":n", 7)
                pipe.incrbyfloat(key + ":f", 0.5)
                assert await pipe.execute() == [7, 0.5]
            assert await client.eval("return ARGV[1] .. ARGV[2]", 0, "a", 12) == b"a12"
        finally:
            await client.delete(key, key + ":h", key + ":n", key + ":f")
            await client.aclose()

    asyncio.run(body())


def _client(redis_url: str, connection_class: type[Connection]) -> aioredis.Redis:
    pool = aioredis.ConnectionPool.from_url(redis_url, socket_timeout=3.0)
    pool.connection_class = connection_class
    return aioredis.Redis(connection_pool=pool)


def test_a_command_is_sent_without_a_task(redis_url: str) -> None:
    """redis-py wraps each write in ``wait_for`` when it has a socket timeout: a task per
    command (and on Python 3.11 a lost cancellation now and then); ours writes at once."""

    async def tasks_per_command(connection_class: type[Connection]) -> float:
        client = _client(redis_url, connection_class)
        made = 0
        loop = asyncio.get_running_loop()

        def count(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
            nonlocal made
            made += 1
            return asyncio.Task(coro, loop=loop, **kwargs)

        try:
            await client.ping()  # connected before counting
            loop.set_task_factory(count)
            for _ in range(20):
                await client.set("liveroom:test:send", "x")
            return made / 20
        finally:
            loop.set_task_factory(None)
            await client.delete("liveroom:test:send")
            await client.aclose()

    async def body() -> None:
        assert await tasks_per_command(Connection) >= 1  # what the override takes away
        assert await tasks_per_command(fast_packing(Connection)) == 0

    asyncio.run(body())


def test_a_write_bigger_than_the_socket_takes_waits_for_it(redis_url: str) -> None:
    async def body() -> None:
        client = _client(redis_url, fast_packing(Connection))
        value = bytes(range(256)) * 32768  # 8 MiB: more than a socket buffer holds
        try:
            await client.set("liveroom:test:big", value)
            assert await client.get("liveroom:test:big") == value
        finally:
            await client.delete("liveroom:test:big")
            await client.aclose()

    asyncio.run(body())


def test_a_killed_connection_is_a_connection_error_and_is_dropped(redis_url: str) -> None:
    async def body() -> None:
        client = _client(redis_url, fast_packing(Connection))
        admin = aioredis.Redis.from_url(redis_url)
        try:
            conn = await client.connection_pool.get_connection()
            await conn.send_command("CLIENT", "ID")
            killed = await conn.read_response()
            await admin.execute_command("CLIENT", "KILL", "ID", killed)
            with pytest.raises(RedisConnectionError):
                for _ in range(50):  # the first writes may still go into the socket
                    await conn.send_command("PING")
                    await conn.read_response()
            assert not conn.is_connected
            await client.connection_pool.release(conn)
            assert await client.ping()  # the pool connects afresh
        finally:
            await admin.aclose()
            await client.aclose()

    asyncio.run(body())


@pytest.mark.cluster
def test_a_cluster_client_uses_it_on_every_node(cluster: Any) -> None:
    from liveroom.engine.redis import _cluster_client

    async def body() -> None:
        client = _cluster_client(cluster.url)
        keys = [f"liveroom:test:cluster:{n}" for n in range(30)]  # over every master's slots
        try:
            for key in keys:
                await client.set(key, "x")
            assert [await client.get(key) for key in keys] == [b"x"] * len(keys)
            nodes = client.get_nodes()
            assert len(nodes) >= 3
            for node in nodes:
                assert issubclass(node.connection_class, FastPacking), node
            used = [conn for node in nodes for conn in node._connections]
            assert used and all(isinstance(conn, FastPacking) for conn in used)
        finally:
            for key in keys:
                await client.delete(key)
            await client.aclose()

    asyncio.run(body())


@pytest.mark.parametrize(
    "args",
    [
        ("SET", "k", 2**63 - 1),
        ("SET", "k", -(2**63)),
        ("INCRBY", "k", -17, 0),
        ("SET", "ключ", "значение ☕"),
        ("SET", "", b""),
        ("SET", "k", "x" * 7000, 12345678901),
    ],
    ids=["max", "min", "negative", "utf8", "empty", "big-text"],
)
def test_the_c_packing_matches_redis_py_at_the_edges(args: tuple[Any, ...]) -> None:
    theirs, _ = _pair()
    assert _wire(_respack.pack(args, 6000)) == _wire(theirs.pack_command(*args))
    # with a cutoff of 3 every longer argument, a number too, is a chunk of its own
    chunks = _respack.pack(args, 3)
    assert _wire(chunks) == _wire(theirs.pack_command(*args))
    assert len(chunks) == 1 + 2 * sum(1 for a in args if len(str(a).encode()) > 3)


@pytest.mark.parametrize(
    "odd", [True, 1.5, 2**64, -(2**63) - 1, memoryview(b"v"), bytearray(b"v"), Text("t"), None]
)
def test_the_c_packing_leaves_other_values_to_python(odd: Any) -> None:
    """None, having done nothing, for anything but an exact bytes, str or 64-bit int."""
    assert _respack.pack(("SET", "k", odd), 6000) is None
    _, ours = _pair()
    theirs, _ = _pair()
    if odd is True or odd is None:
        with pytest.raises(DataError):
            ours.pack_command("SET", "k", odd)
    else:  # packed by the loop in Python, as redis-py packs it
        assert _wire(ours.pack_command("SET", "k", odd)) == _wire(
            theirs.pack_command("SET", "k", odd)
        )


def test_a_lone_surrogate_is_refused_as_redis_py_refuses_it() -> None:
    theirs, ours = _pair()
    with pytest.raises(UnicodeEncodeError):
        theirs.pack_command("SET", "k", "\ud800")
    with pytest.raises(UnicodeEncodeError):
        ours.pack_command("SET", "k", "\ud800")
    with pytest.raises(UnicodeEncodeError):
        _respack.pack(("SET", "k", "\ud800"), 6000)
