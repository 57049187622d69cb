"""A node's per-pulse upkeep of its rooms, part by part: ``python -m loadtest.upkeepbench``.

Builds one node (``Node``, every feature, the chosen engine: Redis at ``--redis-url`` by
default, under a key prefix of its own that is deleted afterwards) with ``--rooms`` local rooms
of ``--viewers`` stand-in viewers each, and none of the node's own loops running. Then it times,
``--cycles`` times each, this process's CPU time (the figure that does not depend on how loaded
the machine is) for one call of:

- ``pulse``: ``Hub.pulse``, every room's heartbeat in one round to the engine (``pulsebench``
  times the same on a bare hub, with the wall time and Redis' side);
- ``bags``: the lucky bags' per-pulse upkeep (``LuckyBags.tend_rooms``) with every room's
  cached bag fresh: the look at each room;
- ``bags_aged``: the same with every room's cached bag set back past ``QUIET_CACHE_S`` before
  each call (in the feature's cache: the bench does not wait 30 s): the re-reads a pulse makes
  when all of a node's rooms aged out together;
- ``bags_first``: the same with nothing cached, as at a node's start: every room read.

Beside the last two, how many rooms' bags each call read (``bags_aged_reads``,
``bags_first_reads``). No room has a bag: the work of an open one (its count to the viewers,
presence reports) is not in these figures. Bounded by ``--cycles``; ``bags`` assumes the caches
stay fresh, so a run should take well under 30 s from its warm-up. ``--cold MB`` copies MB
megabytes before each timed call, outside its count, as ``pulsebench --cold`` does: the parts as
a server finds them, its rooms out of the CPU's caches since the last pulse.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from liveroom.app import Node
from liveroom.features.luckybag import LuckyBags
from liveroom.features.luckybag.settings import QUIET_CACHE_S
from loadtest.pulsebench import CacheFlush, bench_parser, bench_settings, drop_keys, stand_in_rooms
from loadtest.results import emit


class Reads:
    """The lucky bags' store, counting the rooms whose current bag it is asked for."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.rooms = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def current_many(self, rooms: list[str]) -> list[Any]:
        self.rooms += len(rooms)
        return list(await self.store.current_many(rooms))


async def cpu_ms(call: Callable[[], Awaitable[Any]], before: Callable[[], None], n: int) -> float:
    """This process's CPU time per ``call()``, ms, over ``n`` calls; ``before()`` runs ahead
    of each call, outside the count."""
    spent = 0.0
    for _ in range(n):
        before()
        started = time.process_time()
        await call()
        spent += time.process_time() - started
    return round(spent / n * 1000, 2)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = bench_settings(args, "ub")
    prefix = settings.redis_prefix
    node = Node(settings)
    await node.engine.open()  # the engine only: none of the node's loops runs meanwhile
    bags = next(f for f in node.features if isinstance(f, LuckyBags))
    try:
        stand_in_rooms(node.hub, args.rooms, args.viewers)
        await node.hub.pulse()  # warm up: scripts loaded, connections open
        await bags.tend_rooms()

        flush = CacheFlush(args.cold)

        def age() -> None:
            for room, (read_at, bag, mark) in list(bags._current.items()):
                bags._current[room] = (read_at - QUIET_CACHE_S - 1, bag, mark)
            flush()

        def forget() -> None:
            bags._current.clear()
            flush()

        reads = Reads(bags.store)
        bags.store = reads  # type: ignore[assignment]
        pulse = await cpu_ms(node.hub.pulse, flush, args.cycles)
        fresh = await cpu_ms(bags.tend_rooms, flush, args.cycles)
        reads.rooms = 0
        aged = await cpu_ms(bags.tend_rooms, age, args.cycles)
        aged_reads, reads.rooms = reads.rooms, 0
        first = await cpu_ms(bags.tend_rooms, forget, args.cycles)
        return {
            "engine": args.engine,
            "prefix": prefix,
            "rooms": args.rooms,
            "cycles": args.cycles,
            "pulse_cpu_ms": pulse,
            "bags_cpu_ms": fresh,
            "bags_aged_cpu_ms": aged,
            "bags_aged_reads": round(aged_reads / args.cycles),
            "bags_first_cpu_ms": first,
            "bags_first_reads": round(reads.rooms / args.cycles),
        }
    finally:
        try:
            client = getattr(node.engine, "client", None)
            if client is not None:
                await drop_keys(client, prefix)
        finally:
            await node.engine.close()


def main() -> None:
    parser = bench_parser("python -m loadtest.upkeepbench", __doc__, viewers=1, cycles=30)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    emit(result, args.json)


if __name__ == "__main__":
    main()
