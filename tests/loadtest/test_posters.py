"""A client process that stalls across the end of the traffic still posts every comment its
schedule had before the end: the Python workers (``loadtest.rooms``) and the compiled clients
(``loadtest/viewers.c``) alike. The process is stopped (``SIGSTOP``) as its first comment
arrives and let go only after its end has passed, so its next wake-up is after the end."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import orjson
import pytest

from loadtest.native import NativePool
from loadtest.pool import Clients, Pool
from tests.loadtest.test_native import SECRET, events, read_frame, serve

RATE = 20.0  # comments a second
DURATION = 1.0  # seconds: a whole number of periods, so the schedule holds exactly 20


def pool_of(kind: str, port: int) -> Clients:
    config = {"host": "127.0.0.1", "port": port, "secret": SECRET}
    return NativePool(1, config) if kind == "native" else Pool(1, config)


def pid_of(pool: Clients) -> int:
    proc = pool.procs[0]  # type: ignore[attr-defined]
    pid = proc.pid
    assert isinstance(pid, int)
    return pid


@pytest.mark.parametrize("kind", ["python", "native"])
async def test_a_poster_stalled_past_the_end_posts_what_was_due_before_it(kind: str) -> None:
    posted: list[dict[str, Any]] = []
    stalled = asyncio.Event()
    released = asyncio.Event()
    holder: dict[str, int] = {}

    async def stall_then_release() -> None:
        os.kill(holder["pid"], signal.SIGSTOP)
        stalled.set()
        try:
            # the client's traffic began before its first comment reached us, so its end is
            # at most DURATION after that; the condition waited on is the clock passing it
            past_end = time.monotonic() + DURATION + 0.3
            while (left := past_end - time.monotonic()) > 0:
                await asyncio.sleep(left)
        finally:
            os.kill(holder["pid"], signal.SIGCONT)
            released.set()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(events({"type": "snapshot", "offset": 0, "epoch": "e"}))
        staller: asyncio.Task[None] | None = None
        try:
            while True:
                opcode, data = await read_frame(reader)
                if opcode == 8:
                    return
                body = orjson.loads(data)
                posted.append(body)
                n = len(posted)
                reply = {"type": "reply", "id": body["id"], "ok": True, "offset": n}
                writer.write(events(reply, {"offset": n, "type": "comment", "ts": time.time()}))
                if n == 1:
                    staller = asyncio.create_task(stall_then_release())
        finally:
            if staller is not None:
                await staller

    server, _ = await serve(script)
    async with server:
        port = server.sockets[0].getsockname()[1]
        async with pool_of(kind, port) as pool:
            holder["pid"] = pid_of(pool)
            shares = [["room-s", "hot", 0, 1]]
            await pool.all("rooms_connect", 20, per=[{"shares": shares}], concurrency=1, timeout=10)
            traffic = await pool.all(
                "rooms_traffic",
                30,
                per=[{"publish": [["room-s", RATE]]}],
                duration=DURATION,
                t0=time.time(),
            )
            await asyncio.wait_for(released.wait(), 10)
            await pool.all("rooms_close", 10)
    assert stalled.is_set()
    # every comment due before the end, the ones owed at the late wake-up included, and no more
    assert len(posted) == traffic[0]["sent"] == int(RATE * DURATION), (len(posted), traffic)
    assert len({p["id"] for p in posted}) == len(posted)
    assert traffic[0]["heads"] == {"room-s": len(posted)}
