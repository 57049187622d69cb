"""What a room event read from Redis pub/sub costs a node: ``python -m loadtest.subbench``.

Opens one node's Redis engine at ``--redis-url`` (under a key prefix of its own), subscribes it
to ``--rooms`` rooms with a handler that counts, and has a publisher in another process publish
``--rate`` events a second, round-robin over the rooms, for ``--duration`` seconds. Events
spread out like this arrive mostly one per read, as a platform's small rooms send theirs.
Prints the node's CPU time (this process, from the traffic's start until the publisher stops)
per event received, and checks that every event published came, each room's in order.

``--reader`` picks the engine's reader: ``own`` (the default, ``engine/listener.py``: read in
the protocol) or ``redis-py`` (redis-py's ``PubSub``, which the engine reads where its own
connection cannot go; here forced with a connection class of the bench's own). Both in one tree
make an A/B pair. Exits 1 when an event is missing or out of order. Bounded by ``--duration``.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from typing import Any

import redis.asyncio as aioredis
import uvloop
from redis.asyncio.connection import Connection

from liveroom.engine.redis import RedisEngine
from loadtest.pulsebench import bench_settings
from loadtest.results import emit

#: the publisher: publishes ``rate`` events a second over ``channels`` for ``duration`` seconds,
#: each payload its number; prints how many it published
PUBLISHER = """
import sys, time, redis
url, rate, duration, channels = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
r = redis.Redis.from_url(url)
start, n = time.monotonic(), 0
while (elapsed := time.monotonic() - start) < duration:
    while n < int(elapsed * rate):
        r.publish(channels[n % len(channels)], b"%d" % n)
        n += 1
    time.sleep(0.001)
print(n)
"""


class BenchConnection(Connection):
    """A connection class of the bench's own: the engine reads through redis-py's ``PubSub``."""


def engine_for(args: argparse.Namespace) -> RedisEngine:
    settings = bench_settings(args, "subbench-")
    if args.reader == "own":
        return RedisEngine(settings)
    pool = aioredis.BlockingConnectionPool.from_url(
        args.redis_url, connection_class=BenchConnection
    )
    return RedisEngine(settings, aioredis.Redis(connection_pool=pool))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    engine = engine_for(args)
    await engine.open()
    rooms = [f"room{i}" for i in range(args.rooms)]
    got: dict[str, list[int]] = {room: [] for room in rooms}

    def handler(room: str, payload: bytes) -> None:
        got[room].append(int(payload))

    try:
        for room in rooms:
            await engine.subscribe(room, handler)
        channels = [engine.keys(room).channel for room in rooms]
        cpu0, at0 = time.process_time(), time.monotonic()
        publisher = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PUBLISHER, args.redis_url, str(args.rate),
            str(args.duration), *channels, stdout=subprocess.PIPE,
        )  # fmt: skip
        out, _ = await publisher.communicate()
        cpu1, at1 = time.process_time(), time.monotonic()
        published = int(out)
        deadline = time.monotonic() + 10.0
        while sum(map(len, got.values())) < published and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
    finally:
        await engine.close()
        if args.reader != "own":
            await engine.client.aclose()
    received = sum(map(len, got.values()))
    in_order = all(
        numbers == list(range(i, published, len(rooms))) for i, numbers in enumerate(got.values())
    )
    return {
        "reader": args.reader,
        "rooms": args.rooms,
        "rate": args.rate,
        "published": published,
        "received": received,
        "in_order": in_order,
        "traffic_s": round(at1 - at0, 2),
        "cpu_us_per_event": round((cpu1 - cpu0) * 1e6 / max(1, received), 1),
        "ok": in_order and received == published,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.subbench", description=__doc__)
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--rate", type=float, default=500.0, help="events a second, in all")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--reader", choices=["own", "redis-py"], default="own")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args()
    args.engine = "redis"
    result = uvloop.run(run(args))
    emit(result, args.json)
    if not result["ok"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
