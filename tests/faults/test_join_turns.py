"""Joins take turns (``LIVEROOM_JOINS_AT_ONCE``): a Redis stall fails the joins under way only."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from liveroom.errors import CloseCode
from tests.liveclient import LiveClient
from tests.redis_servers import RedisProcess
from tests.timeouts import eventually

ROOM = "turns"
AT_ONCE = 4
JOINERS = 40


async def test_a_redis_stall_fails_the_joins_under_way_and_the_others_wait(
    start_server: Any, private_redis: list[RedisProcess]
) -> None:
    """Redis stalls longer than a command may wait (3 s) while 40 viewers join: the 4 joins
    holding a turn fail with 1012, the other 36 wait for their turn and join once Redis is back
    (without turns every join waited on Redis at once, and all 40 failed)."""
    store = RedisProcess().start()
    private_redis.append(store)
    assert store.proc is not None
    server = start_server(
        engine="redis",
        redis_url=store.url,
        max_conns_per_ip=0,
        admit_address_rate=0,
        joins_at_once=AT_ONCE,
    )
    first = await LiveClient.connect(server.ws_url, ROOM, "first")  # the room is subscribed
    await first.event("snapshot")
    os.kill(store.proc.pid, signal.SIGSTOP)
    try:
        joiners = await asyncio.gather(
            *(LiveClient.connect(server.ws_url, ROOM, f"v{n}") for n in range(JOINERS))
        )
        # the joins under way give up after the pool's 3 s socket timeout; the next turns'
        # joins are then waiting on Redis, with 3 s of their own before they would fail
        await eventually(lambda: sum(c.closed is not None for c in joiners) >= AT_ONCE, 15)
    finally:
        os.kill(store.proc.pid, signal.SIGCONT)

    def settled() -> bool:
        return all(c.closed is not None or c.of_type("snapshot") for c in joiners)

    await eventually(settled, 15)
    failed = [c.closed for c in joiners if c.closed is not None]
    assert all(code == CloseCode.SERVICE_RESTART for code, _ in failed), failed
    assert AT_ONCE <= len(failed) <= 2 * AT_ONCE, f"{len(failed)} of {JOINERS} joins failed"
    for client in [first, *joiners]:
        await client.close()
