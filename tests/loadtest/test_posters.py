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
from loadtest.pool import Pool
from tests.loadtest.test_native import SECRET, events, read_frame, serve

pytestmark = pytest.mark.usefixtures("native_cache")

RATE = 20.0  # comments a second
DURATION = 1.0  # seconds: a whole number of periods, so the schedule holds exactly 20


def pool_of(kind: str, port: int) -> Pool | NativePool:
    config = {"host": "127.0.0.1", "port": port, "secret": SECRET}
    return NativePool(1, config) if kind == "native" else Pool(1, config)


def pid_of(pool: Pool | NativePool) -> int:
    pid = pool.procs[0].pid
    assert isinstance(pid, int)
    return pid


@pytest.mark.parametrize("kind", ["python", "native"])
async def test_a_poster_stalled_past_the_end_posts_what_was_due_before_it(kind: str) -> None:
    """Stopped from its first comment until after its end, the client posts the other 19 when
    it wakes (after the end, so after it is let go), and no more."""
    arrived: list[tuple[float, dict[str, Any]]] = []  # when each comment came, and its body
    stalled = asyncio.Event()
    released: list[float] = []
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
            released.append(time.monotonic())
            os.kill(holder["pid"], signal.SIGCONT)

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(events({"type": "snapshot", "offset": 0, "epoch": "e"}))
        staller: asyncio.Task[None] | None = None
        try:
            while True:
                opcode, data = await read_frame(reader)
                if opcode == 8:
                    return
                body = orjson.loads(data)
                arrived.append((time.monotonic(), body))
                n = len(arrived)
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
            assert stalled.is_set(), "no comment arrived to stop the client at"
            await pool.all("rooms_close", 10)
    # every comment due before the end, the ones owed at the late wake-up included, and no more
    posted = [body for _, body in arrived]
    assert len(posted) == traffic[0]["sent"] == int(RATE * DURATION), (len(posted), traffic)
    assert len({p["id"] for p in posted}) == len(posted)
    assert traffic[0]["heads"] == {"room-s": len(posted)}
    # and the test tested that: some came after the client was let go, past its end (had the
    # stop come after the client's last comment, the count above would prove nothing)
    assert released, "the client was never let go"
    assert any(at > released[0] for at, _ in arrived), "every comment came before the stop"
