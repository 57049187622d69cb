"""What waking an idle event loop costs here: ``python -m loadtest.wakecost --rates 100,2000``.

A server does most of its work in bursts: a comment arrives on a quiet connection, a reply comes
back from Redis, a room event comes in on the pub/sub connection. Each such message, arriving
alone, wakes the node's event loop from ``epoll_wait``: the kernel schedules the process back
in, uvloop reads the socket, Python calls the protocol, and the loop goes back to sleep. The
platform mix pays that for every one of its thousands of small messages a second; the hot room
alone pays it twenty times a second for a burst of thousands of sends.

This starts a bare uvloop server in a process of its own (a protocol that only counts the
bytes it is given: no liveroom code) and sends it one small message at a time over one loopback
connection, ``--rate`` messages a second for ``--duration`` seconds, each at its own time on a
fixed schedule. It reports, per message, the server process's CPU time (the scheduler's own
count, ``/proc/PID/schedstat``, and user + system from ``/proc/PID/stat``) and its voluntary
context switches: at low rates about one a message, each message a wake-up. Several
``--rates`` give the figure falling as messages come closer together and start to share
wake-ups. It is the machine's floor for a message that arrives alone, as ``loadtest.sendfloor``
is for a frame sent; compare it with ``loadtest ingest`` at a low ``--rate`` (BENCHMARKS.md,
"Session 41").

Loopback only; every run is bounded by ``--duration``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import uvloop

#: bytes of each message: about a small command's frame
MESSAGE_BYTES = 64


def _serve(ready: Any, counts: Any) -> None:
    """The server process: accept one connection, count what it reads until it closes."""

    class Counting(asyncio.Protocol):
        def __init__(self, done: asyncio.Event) -> None:
            self.done = done
            self.bytes = 0
            self.reads = 0

        def data_received(self, data: bytes) -> None:
            self.bytes += len(data)
            self.reads += 1

        def connection_lost(self, exc: Exception | None) -> None:
            counts.send((self.bytes, self.reads))
            self.done.set()

    async def main() -> None:
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: Counting(done), "127.0.0.1", 0)
        ready.send(server.sockets[0].getsockname()[1])
        await done.wait()
        server.close()

    uvloop.run(main())


def _usage(pid: int) -> tuple[float, float, int]:
    """The process's CPU seconds by the scheduler (``schedstat``, every thread: exact), by
    ``stat`` (user + system, as psutil reads them), and its voluntary context switches."""
    run_ns = sum(
        int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
        for task in os.listdir(f"/proc/{pid}/task")
    )
    proc = psutil.Process(pid)
    times = proc.cpu_times()
    return run_ns / 1e9, times.user + times.system, proc.num_ctx_switches().voluntary


def measure(rate: float, duration: float) -> dict[str, Any]:
    """One rate: the server's CPU per message sent alone at ``rate`` a second."""
    context = multiprocessing.get_context("spawn")
    ready_r, ready_w = context.Pipe(duplex=False)
    counts_r, counts_w = context.Pipe(duplex=False)
    server = context.Process(target=_serve, args=(ready_w, counts_w), daemon=True)
    server.start()
    try:
        if not ready_r.poll(30):
            raise RuntimeError("the server process did not start")
        port = ready_r.recv()
        assert server.pid is not None
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            message = b"x" * MESSAGE_BYTES
            sock.sendall(message)  # the connection made and read: not in the window
            time.sleep(0.2)  # the server back in epoll_wait (pacing, not synchronisation)
            run0, stat0, switches0 = _usage(server.pid)
            period = 1.0 / rate
            start = due = time.monotonic()
            sent = 0
            while due - start < duration:
                due += period
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                sock.sendall(message)
                sent += 1
            time.sleep(min(0.2, 10 * period))  # the last message read (pacing, as above)
            run1, stat1, switches1 = _usage(server.pid)
        if not counts_r.poll(30):
            raise RuntimeError("the server did not report what it read")
        received, reads = counts_r.recv()
    finally:
        server.join(10)
        if server.is_alive():
            server.kill()
    return {
        "rate": rate,
        "sent": sent,
        "received": received // MESSAGE_BYTES - 1,  # less the one before the window
        "reads": reads - 1,
        "us_per_message": round((run1 - run0) / sent * 1e6, 2),
        "stat_us_per_message": round((stat1 - stat0) / sent * 1e6, 2),
        "switches_per_message": round((switches1 - switches0) / sent, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.wakecost", description=__doc__)
    parser.add_argument(
        "--rates",
        default="100,500,2000",
        help="messages a second, comma-separated: one run each (default 100,500,2000)",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds a rate")
    parser.add_argument("--json", metavar="FILE", help="also write the result to this file")
    opts = parser.parse_args(argv)
    rates = [float(r) for r in opts.rates.split(",") if r.strip()]
    if not rates or min(rates) <= 0 or opts.duration <= 0:
        parser.error("--rates must be positive numbers and --duration positive")
    runs = []
    for rate in rates:
        run = measure(rate, opts.duration)
        print(
            f"{rate:g}/s: {run['us_per_message']} µs of server CPU a message "
            f"({run['stat_us_per_message']} by /proc/PID/stat), "
            f"{run['switches_per_message']} wake-ups a message",
            file=sys.stderr,
        )
        runs.append(run)
    result = {"message_bytes": MESSAGE_BYTES, "runs": runs}
    text = json.dumps(result, indent=2)
    print(text)
    if opts.json:
        with open(opts.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
