"""SIGTERM: stop accepting, answer the commands already read, close everyone with 1012, exit."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
import redis

from tests.cluster.rooms import LIMITS
from tests.liveclient import LiveClient
from tests.redis_servers import RedisProcess
from tests.timeouts import eventually, scaled

ROOM = "bye"
DRAIN_S = 5
PAUSE_MS = 1500


async def comment_commands(url: str) -> bool:
    async with httpx.AsyncClient() as http:
        text = (await http.get(url + "/metrics", timeout=5)).text
    return 'liveroom_commands_total{type="comment"} 1.0' in text


async def test_sigterm_drains_then_closes_with_1012(
    durable_redis: RedisProcess, start_server: Any
) -> None:
    """A comment held up in Redis at SIGTERM still gets its reply; then 1012 and a prompt exit."""
    server = start_server(
        engine="redis",
        redis_url=durable_redis.url,
        redis_prefix="lrs",
        drain_s=DRAIN_S,
        **LIMITS,
    )
    idle = [await LiveClient.connect(server.ws_url, ROOM, f"v{i}") for i in range(2)]
    writer = await LiveClient.connect(server.ws_url, ROOM, "writer")
    everyone = [*idle, writer]
    try:
        await asyncio.gather(*(c.event("snapshot") for c in everyone))
        with redis.Redis.from_url(durable_redis.url) as admin:
            # every script waits in Redis for PAUSE_MS: the comment below is in flight
            admin.execute_command("CLIENT", "PAUSE", PAUSE_MS, "WRITE")
        in_flight = asyncio.create_task(writer.command("comment", timeout=10, text="last words"))
        await eventually(lambda: comment_commands(server.url), timeout=5)
        server.terminate()
        signalled = time.monotonic()

        for viewer in idle:
            assert (await viewer.closed_with(timeout=5))[0] == 1012
        with pytest.raises(OSError):
            await LiveClient.connect(server.ws_url, ROOM, "late")

        reply = await in_flight
        assert reply["ok"], reply
        assert (await writer.closed_with(timeout=5))[0] == 1012

        await asyncio.get_running_loop().run_in_executor(None, server.wait, DRAIN_S)
        assert time.monotonic() - signalled < scaled(DRAIN_S)
    finally:
        await asyncio.gather(*(c.close() for c in everyone))
