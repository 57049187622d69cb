"""What one join costs the server: ``python -m loadtest.joincost``.

Spawns one server (memory engine), joins ``--warmup`` viewers to warm it up, then joins
``--viewers`` more into one room, ``--concurrency`` handshakes at a time, each counted once its
snapshot is in. It reports the server process's CPU time (user + system, from ``/proc``) over
those joins divided by them, and with ``--callgrind DIR`` runs the server under valgrind's
callgrind instead, instrumented over the joins only, and reports the instructions per join: a
count that does not depend on the machine's load, for comparing two trees on a shared machine
(run the file of one tree with ``PYTHONPATH`` set to the other to measure the other's server).
The join storm's own figures (joins/s with many client processes) come from ``python -m
loadtest join``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from liveroom import auth
from loadtest import wsclient
from loadtest.cli import raise_fd_limit
from loadtest.ingest import callgrind, cpu_seconds, dumped_instructions
from loadtest.results import emit
from loadtest.server import SpawnedServer, server_settings

ROOM = "joincost"


async def join(port: int, secret: str, user: str, timeout: float) -> wsclient.WsClient:
    """One viewer joined: its connection, once the snapshot has arrived."""
    snapshot = asyncio.get_running_loop().create_future()

    def on_message(payload: bytes) -> None:
        if b'"snapshot"' in payload and not snapshot.done():
            snapshot.set_result(None)

    def on_close(code: int | None) -> None:
        if not snapshot.done():
            snapshot.set_exception(ConnectionError(f"closed ({code}) before the snapshot"))

    token = auth.mint(secret, user, room=ROOM, ttl_s=3600)
    ws = await wsclient.connect(
        port, f"/ws?room={ROOM}&token={token}", on_message, on_close, timeout
    )
    await asyncio.wait_for(snapshot, timeout)
    return ws


async def join_all(
    port: int, secret: str, users: list[str], concurrency: int, timeout: float
) -> list[wsclient.WsClient]:
    gate = asyncio.Semaphore(concurrency)

    async def one(user: str) -> wsclient.WsClient:
        async with gate:
            return await join(port, secret, user, timeout)

    return list(await asyncio.gather(*(one(user) for user in users)))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    wrap: list[str] = []
    if args.callgrind:
        Path(args.callgrind).mkdir(parents=True, exist_ok=True)
        wrap = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={args.callgrind}/callgrind.out.%p",
        ]
    settings = server_settings(args.server_setting)
    server = SpawnedServer(tick_ms=args.tick_ms, settings=settings, profile=args.profile, wrap=wrap)
    target = await server.start(timeout=600 if wrap else 30)
    pid = target.pids[0]
    timeout = 600.0 if wrap else 30.0
    conns: list[wsclient.WsClient] = []
    try:
        warm = [f"w{i}" for i in range(args.warmup)]
        conns += await join_all(target.port, target.secret, warm, args.concurrency, timeout)
        await asyncio.sleep(1.0)  # the warm-up's joins settled
        if args.callgrind:
            callgrind(pid, "-i", "on")
        at0, cpu0 = time.monotonic(), sum(cpu_seconds(target))
        users = [f"v{i}" for i in range(args.viewers)]
        conns += await join_all(target.port, target.secret, users, args.concurrency, timeout)
        at1, cpu1 = time.monotonic(), sum(cpu_seconds(target))
        instructions = 0
        if args.callgrind:
            callgrind(pid, "-d")
            callgrind(pid, "-i", "off")
            instructions = dumped_instructions(Path(args.callgrind), pid, 1)
        return {
            "viewers": args.viewers,
            "warmup": args.warmup,
            "concurrency": args.concurrency,
            "join_s": round(at1 - at0, 3),
            "server_cpu_s": round(cpu1 - cpu0, 3),
            "cpu_us_per_join": round((cpu1 - cpu0) / args.viewers * 1e6, 1),
            "instructions_per_join": round(instructions / args.viewers) if instructions else None,
        }
    finally:
        for ws in conns:
            ws.abort()
        await asyncio.to_thread(server.stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.joincost", description=__doc__)
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--tick-ms", type=int, default=50)
    parser.add_argument("--server-setting", action="append", metavar="NAME=VALUE")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the server into FILE")
    parser.add_argument("--callgrind", metavar="DIR", help="count the server's instructions")
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args(argv)
    raise_fd_limit()
    result = asyncio.run(run(args))
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
