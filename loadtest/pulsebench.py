"""What a node's pulse of many rooms costs: ``python -m loadtest.pulsebench --rooms 2000``.

Builds one node's hub on the chosen engine (Redis at ``--redis-url`` by default, under a key
prefix of its own that is deleted afterwards), gives it ``--rooms`` local rooms with a few
stand-in viewers each, and times ``Hub.pulse`` (every room's heartbeat in one round to the engine)
``--cycles`` times. ``--sequential`` times the same rooms pulsed one ``await`` after another, as
the hub did before ``pulse_many``, for an A/B in one run. Prints the wall time per cycle, the
node's CPU time per cycle (this process: the figure that does not depend on how loaded the
machine is) and, on Redis, the commands Redis ran per cycle (``INFO commandstats``) and the
Redis server's CPU time per cycle (``INFO cpu``: meaningful on a Redis of the bench's own).
Bounded by ``--cycles``.

``--cold MB`` copies MB megabytes before each timed cycle (outside its count), so that the
rooms come from memory rather than the CPU's caches. Back to back, cycle after cycle, the bench
finds a few thousand rooms in the caches; a server does not: between two pulses the fan-out,
the connections and the other rooms push them out. 1,000 stand-in rooms pulsed back to back
cost 0.69-0.90 ms a pulse of this process's CPU, with 64 MB copied before each 1.38-1.71 ms
(BENCHMARKS.md, "Session 40").
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time
from typing import Any

from liveroom.config import Settings
from liveroom.engine import engine_from_settings
from liveroom.hub import Hub, LocalRoom, Viewer
from loadtest.results import emit


class Idle:
    """A stand-in connection for rooms held without sockets (the pulse and the resubscribe
    benchmarks only count viewers)."""

    out = None

    def send(self, payload: bytes) -> None:
        pass

    def close(self, code: int, reason: str = "") -> None:
        pass

    def forget(self) -> None:
        pass


def bench_settings(args: argparse.Namespace, tag: str) -> Settings:
    """A bench node's settings: ``args.engine`` at ``args.redis_url``, under a key prefix of
    its own (``tag`` and a random part), no demo."""
    return Settings(
        secret="x" * 32,
        api_key="y" * 32,
        engine=args.engine,
        redis_url=args.redis_url,
        redis_prefix=tag + secrets.token_hex(4),
        demo=False,
    )


def stand_in_rooms(hub: Hub, rooms: int, viewers: int) -> list[LocalRoom]:
    """``rooms`` local rooms of ``hub`` (``room0``, ``room1``, ...) with ``viewers`` stand-in
    viewers each, held as joining, so that each counts in its room's size."""
    made = []
    for i in range(rooms):
        room = LocalRoom(hub, f"room{i}")
        for v in range(viewers):
            room.joining.append(Viewer(Idle(), f"u{v}"))
        hub.rooms[room.id] = room
        made.append(room)
    return made


async def drop_keys(client: Any, prefix: str) -> None:
    """Delete every key under ``prefix`` (a bench's own), 500 a command."""
    keys = [key async for key in client.scan_iter(match=prefix + ":*", count=1000)]
    for start in range(0, len(keys), 500):
        await client.delete(*keys[start : start + 500])


async def redis_calls(engine: Any) -> tuple[int, float]:
    """Commands Redis has run (``INFO commandstats``; a script's own commands count too), and
    the CPU seconds the Redis process has used (``INFO cpu``: all of it, whoever asked)."""
    client = getattr(engine, "client", None)
    if client is None:
        return 0, 0.0
    stats = await client.info("commandstats")
    cpu = await client.info("cpu")
    calls = sum(int(v["calls"]) for v in stats.values() if isinstance(v, dict))
    return calls, float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


class CacheFlush:
    """Called before a timed call: copies ``mb`` megabytes from one buffer into another, so
    that the call finds little of what it reads in the CPU's caches (a copy moves twice the
    size through them; writing one byte a cache line left the pulse at two thirds of the cost it
    shows after a copy). With ``mb`` 0 it does nothing."""

    def __init__(self, mb: int) -> None:
        # not zeros: untouched zero pages all map one physical page, which the copy would read
        # from the caches
        self.source = bytes(range(256)) * (mb << 12)
        self.buffer = bytearray(mb << 20)

    def __call__(self) -> None:
        if self.source:
            self.buffer[:] = self.source


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = bench_settings(args, "pb")
    prefix = settings.redis_prefix
    engine = engine_from_settings(settings)
    await engine.open()
    hub = Hub(engine, settings)
    try:
        for i, room in enumerate(stand_in_rooms(hub, args.rooms, args.viewers)):
            room.likes = i % 3

        async def sequential() -> None:
            for room in list(hub.rooms.values()):
                await engine.pulse(room.id, hub.node, room.size, room.likes)

        cycle = sequential if args.sequential else hub.pulse
        await cycle()  # warm up: scripts loaded, connections open
        times: list[float] = []
        flush = CacheFlush(args.cold)
        calls_before, redis_cpu_before = await redis_calls(engine)
        cpu = 0.0
        for _ in range(args.cycles):
            flush()
            cpu_before = time.process_time()
            started = time.perf_counter()
            await cycle()
            times.append(time.perf_counter() - started)
            cpu += time.process_time() - cpu_before
        calls_after, redis_cpu_after = await redis_calls(engine)
        calls = calls_after - calls_before - 2  # the INFO calls themselves
        return {
            "engine": args.engine,
            "rooms": args.rooms,
            "mode": "sequential" if args.sequential else "pulse_many",
            "cycles": args.cycles,
            "cycle_ms_median": round(statistics.median(times) * 1000, 1),
            "cycle_ms_max": round(max(times) * 1000, 1),
            "node_cpu_ms_per_cycle": round(cpu / args.cycles * 1000, 2),
            "redis_cpu_ms_per_cycle": round(
                (redis_cpu_after - redis_cpu_before) / args.cycles * 1000, 2
            ),
            "redis_commands_per_cycle": round(calls / args.cycles) if calls > 0 else None,
        }
    finally:
        try:
            client = getattr(engine, "client", None)
            if client is not None:
                await drop_keys(client, prefix)
        finally:
            await engine.close()


def bench_parser(prog: str, doc: str | None, viewers: int, cycles: int) -> argparse.ArgumentParser:
    """The flags a bench of many stand-in rooms shares (``pulsebench``, ``upkeepbench``)."""
    parser = argparse.ArgumentParser(prog=prog, description=doc)
    parser.add_argument("--rooms", type=int, default=2000)
    parser.add_argument("--viewers", type=int, default=viewers, help="stand-in viewers per room")
    parser.add_argument("--cycles", type=int, default=cycles)
    parser.add_argument("--engine", choices=["redis", "memory"], default="redis")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--cold",
        type=int,
        default=0,
        metavar="MB",
        help="copy MB megabytes before each timed call, so that the rooms come from memory",
    )
    parser.add_argument("--json", help="also write the result to this file")
    return parser


def main() -> None:
    parser = bench_parser("python -m loadtest.pulsebench", __doc__, viewers=5, cycles=10)
    parser.add_argument("--sequential", action="store_true", help="one await per room")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    emit(result, args.json)


if __name__ == "__main__":
    main()
