"""What a private notice costs a node in a big room: ``python -m loadtest.noticecost``.

A notice for one user (a red packet or coupon unlocked by their keyword, a lucky-bag win, a
kick) reaches a room's every node, and each node finds that user's connections among its
viewers. This joins ``--viewers`` viewers (stand-in sockets that count what they are given) to
one room of a hub on the memory engine, in this process, then sends ``--notices`` notices, each
to one of them, and reports this process's CPU time per notice and how many frames the viewers
were given (one a notice: each went to its user alone).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import uvloop

from liveroom.config import Settings
from liveroom.engine.memory import MemoryEngine
from liveroom.hub import Hub, Viewer
from liveroom.protocol import event
from loadtest.commentcost import CountingOut
from loadtest.results import emit


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings(secret="noticecost-" + "s" * 32, api_key="noticecost-" + "k" * 32)
    engine = MemoryEngine(settings)
    await engine.open()
    hub = Hub(engine, settings)
    try:
        room = await hub.room("room")
        sockets = [CountingOut() for _ in range(args.viewers)]
        for n, sock in enumerate(sockets):
            hub.join(room, Viewer(sock, f"u{n}"), await engine.head("room"))
        hub.flush_all()  # every viewer brought level: in the room's send list
        before = sum(sock.frames for sock in sockets)
        body = event("packet_unlocked", id="p1")
        stride = max(1, args.viewers // max(1, args.notices))
        began = time.process_time()
        for n in range(args.notices):
            await engine.notify("room", f"u{(n * stride) % args.viewers}", body)
        spent = time.process_time() - began
        given = sum(sock.frames for sock in sockets) - before
    finally:
        await hub.close()
        await engine.close()
    return {
        "bench": "noticecost",
        "viewers": args.viewers,
        "notices": args.notices,
        "cpu_us_per_notice": round(spent / args.notices * 1e6, 2),
        "frames_given": given,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.noticecost", description=__doc__)
    parser.add_argument("--viewers", type=int, default=10_000)
    parser.add_argument("--notices", type=int, default=2_000)
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args(argv)
    uvloop.install()
    emit(asyncio.run(run(args)), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
