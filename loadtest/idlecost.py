"""What a node's idle rooms cost it: ``python -m loadtest.idlecost --rooms 2000``.

Opens one whole node (every feature, its loops running: the pulse, the lucky-bag upkeep, the
analytics writer, the sweeps, the tick) on the chosen engine (Redis at ``--redis-url`` by
default, under a key prefix of its own that is deleted afterwards), puts ``--viewers``
stand-in viewers in each of ``--rooms`` rooms (each counted by analytics as a session's join
is; the process's collector tuned as a server process's is), lets ``--warmup`` pulses pass
(the first analytics writes, with the newcomers, among them), then measures
this process's CPU time over ``--seconds`` of wall time in which nothing happens: no comment,
no join. What it measures is the per-room upkeep a platform's thousands of quiet rooms cost a
node; the issue's goal is that it stays small and flat in the number of rooms. With
``--profile FILE`` the measured seconds also run under ``cProfile``.

It prints the node's CPU ms per second, the same per room (µs per room per second), and, on
Redis, the commands Redis ran per second (``INFO commandstats``). Bounded by ``--seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import secrets
import sys
import time
from typing import Any

import uvloop

from liveroom.app import Node, tune_gc
from liveroom.config import Settings
from liveroom.features.analytics import Analytics
from liveroom.features.analytics.tally import source_of
from liveroom.hub import Viewer
from loadtest.commentcost import CountingOut
from loadtest.pulsebench import drop_keys, redis_calls
from loadtest.results import emit


async def run(args: argparse.Namespace, own_process: bool = False) -> dict[str, Any]:
    """The measurement. ``own_process``: this process is the bench's own (``main``), so its
    collector is tuned as a server process's is; a test calling ``run`` leaves its own alone."""
    prefix = "ic" + secrets.token_hex(4)
    settings = Settings(
        secret="idlecost-" + "s" * 32,
        api_key="idlecost-" + "k" * 32,
        engine=args.engine,
        redis_url=args.redis_url,
        redis_prefix=prefix,
        demo=False,
        pulse_s=args.pulse_s,
    )
    node = Node(settings)
    await node.open()
    if own_process:  # as in a server process (``app_from_env``): thresholds, and a freeze
        tune_gc(settings.gc_levels)
    analytics = next(f for f in node.features if isinstance(f, Analytics))
    try:
        for i in range(args.rooms):
            room = await node.hub.room(f"room{i}")
            head = await node.engine.head(room.id)
            for v in range(args.viewers):
                user = f"u{i}-{v}"
                node.hub.join(room, Viewer(CountingOut(), user), head)
                # counted as a session's join is (``Analytics.joined``): the room's analytics
                # heartbeat is part of its upkeep
                analytics.tally.joined(room.id, user, source_of(None), ())
        await asyncio.sleep(args.pulse_s * args.warmup)  # the pulses settle: counts sent once
        engine = node.engine
        calls_before = (await redis_calls(engine))[0] if args.engine == "redis" else 0
        profile = cProfile.Profile() if args.profile else None
        if profile is not None:
            profile.enable()
        cpu_before, wall_before = time.process_time(), time.monotonic()
        await asyncio.sleep(args.seconds)
        cpu, wall = time.process_time() - cpu_before, time.monotonic() - wall_before
        if profile is not None:
            profile.disable()
            profile.dump_stats(args.profile)
        calls = (await redis_calls(engine))[0] - calls_before - 1 if args.engine == "redis" else 0
        return {
            "engine": args.engine,
            "prefix": prefix,
            "rooms": args.rooms,
            "viewers_per_room": args.viewers,
            "pulse_s": args.pulse_s,
            "seconds": round(wall, 2),
            "node_cpu_ms_per_s": round(cpu / wall * 1000, 2),
            "us_per_room_per_s": round(cpu / wall / args.rooms * 1e6, 2),
            "redis_commands_per_s": round(calls / wall) if args.engine == "redis" else None,
        }
    finally:
        await node.close()
        client = getattr(node.engine, "client", None)
        if client is not None:
            await _delete_prefix(args.redis_url, prefix)


async def _delete_prefix(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url)
    try:
        await drop_keys(client, prefix)
    finally:
        await client.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.idlecost", description=__doc__)
    parser.add_argument("--rooms", type=int, default=2000)
    parser.add_argument("--viewers", type=int, default=5, help="stand-in viewers per room")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=int, default=3, help="pulses before the measurement")
    parser.add_argument("--pulse-s", type=float, default=1.0)
    parser.add_argument("--engine", choices=["redis", "memory"], default="redis")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--profile", help="write a cProfile of the measured seconds here")
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args(argv)
    uvloop.install()
    result = asyncio.run(run(args, own_process=True))
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
