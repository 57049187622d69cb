"""``FastPacking.pack_command`` puts the same bytes on the wire as redis-py's own, and refuses
what redis-py refuses; a client with it talks to a real Redis."""

from __future__ import annotations

import asyncio
from enum import IntEnum
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError

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
