"""SIGTERM: stop accepting, answer the commands already read, close everyone with 1012, exit."""

from __future__ import annotations

import asyncio
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from tests.cluster.rooms import LIMITS
from tests.liveclient import LiveClient
from tests.redis_servers import RedisProcess
from tests.servers import ServerProcess
from tests.timeouts import eventually, scaled

ROOM = "bye"
DRAIN_S = 5
PAUSE_MS = 1500


async def comment_commands(url: str) -> bool:
    async with httpx.AsyncClient() as http:
        text = (await http.get(url + "/metrics", timeout=5)).text
    return 'liveroom_commands_total{type="comment"} 1.0' in text


@pytest.mark.parametrize(("drain_s", "pause_ms"), [(DRAIN_S, PAUSE_MS), (0.95, 400)])
async def test_sigterm_drains_then_closes_with_1012(
    durable_redis: RedisProcess, start_server: Any, drain_s: float, pause_ms: int
) -> None:
    """A comment held up in Redis at SIGTERM still gets its reply; then 1012 and a prompt exit.
    So too with a drain of less than a second (it had been cut to whole seconds: none)."""
    server = start_server(
        engine="redis",
        redis_url=durable_redis.url,
        redis_prefix="lrs",
        drain_s=drain_s,
        **LIMITS,
    )
    idle = [await LiveClient.connect(server.ws_url, ROOM, f"v{i}") for i in range(2)]
    writer = await LiveClient.connect(server.ws_url, ROOM, "writer")
    everyone = [*idle, writer]
    try:
        await asyncio.gather(*(c.event("snapshot") for c in everyone))
        with redis.Redis.from_url(durable_redis.url) as admin:
            # every script waits in Redis for pause_ms: the comment below is in flight
            admin.execute_command("CLIENT", "PAUSE", pause_ms, "WRITE")
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


def unread_by_server(server_port: int, client_port: int) -> int | None:
    """Bytes the client sent that sit in the server socket's receive queue, unread by the
    server process (``/proc/net/tcp``); None while the connection is not listed."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, queues = fields[1], fields[2], fields[4]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == (
            client_port
        ):
            return int(queues.split(":")[1], 16)
    return None


async def test_sigterm_during_a_join_answers_the_command_read_meanwhile(
    durable_redis: RedisProcess, start_server: Any
) -> None:
    """SIGTERM while a viewer's join waits on Redis: the comment it sent meanwhile is answered
    once the join is done, and only then does 1012 come."""
    server = start_server(
        engine="redis",
        redis_url=durable_redis.url,
        redis_prefix="lrj",
        drain_s=DRAIN_S,
        **LIMITS,
    )
    with redis.Redis.from_url(durable_redis.url) as admin:
        # every command waits in Redis for PAUSE_MS: the join below cannot finish before
        admin.execute_command("CLIENT", "PAUSE", PAUSE_MS, "ALL")
    joiner = await LiveClient.connect(server.ws_url, "joining", "joiner")
    try:
        await joiner.send_raw(orjson.dumps({"type": "comment", "id": "j1", "text": "hi"}).decode())
        port = joiner.ws.local_address[1]
        await eventually(lambda: unread_by_server(server.port, port) == 0, timeout=5)
        assert not joiner.of_type(
            "snapshot"
        )  # the join was still waiting when the command was read
        server.terminate()
        signalled = time.monotonic()

        reply = await joiner.wait(lambda: joiner.replies.get("j1"), timeout=scaled(DRAIN_S))
        assert reply["ok"], reply
        assert joiner.of_type("snapshot")
        assert (await joiner.closed_with(timeout=scaled(DRAIN_S)))[0] == 1012
        await asyncio.get_running_loop().run_in_executor(None, server.wait, DRAIN_S)
        assert time.monotonic() - signalled < scaled(DRAIN_S)
    finally:
        await joiner.close()


async def test_sigterm_while_a_command_waits_for_the_gather_window(start_server: Any) -> None:
    """SIGTERM while a command the node has read waits for its gather window (1 s here): the
    window still ends during the drain, the command is answered, and only then does 1012
    come."""
    server = start_server(drain_s=DRAIN_S, command_gather_ms=1000, **LIMITS)
    writer = await LiveClient.connect(server.ws_url, "gathered", "writer")
    try:
        await writer.event("snapshot")
        await writer.send_raw(orjson.dumps({"type": "comment", "id": "g1", "text": "hi"}).decode())
        port = writer.ws.local_address[1]
        await eventually(lambda: unread_by_server(server.port, port) == 0, timeout=5)
        server.terminate()
        signalled = time.monotonic()

        reply = await writer.wait(lambda: writer.replies.get("g1"), timeout=scaled(DRAIN_S))
        assert reply["ok"], reply
        assert (await writer.closed_with(timeout=scaled(DRAIN_S)))[0] == 1012
        await asyncio.get_running_loop().run_in_executor(None, server.wait, DRAIN_S)
        assert time.monotonic() - signalled < scaled(DRAIN_S)
    finally:
        await writer.close()


@pytest.mark.parametrize("where", ["redis", pytest.param("cluster", marks=pytest.mark.cluster)])
async def test_sigterm_ends_every_background_loop_while_they_talk_to_redis(
    where: str, request: pytest.FixtureRequest
) -> None:
    """Nodes whose sweepers, counters and pulses write to Redis all the time exit promptly on
    SIGTERM. A loop that lost its cancel (Python 3.11's ``wait_for`` inside redis-py drops one
    that lands as a write completes) kept a node alive until it was killed."""
    if where == "cluster":
        local = request.getfixturevalue("cluster")
        settings: dict[str, Any] = {
            "engine": "redis",
            "redis_cluster": True,
            "redis_url": local.url,
        }
    else:
        settings = dict(request.getfixturevalue("redis_server_settings"))
    settings["redis_prefix"] = f"{settings.get('redis_prefix', 'lrq')}-busy"
    nodes = [
        ServerProcess(sweep_interval_s=0.001, pulse_s=0.01, drain_s=1, **settings) for _ in range(4)
    ]
    try:
        with ThreadPoolExecutor(len(nodes)) as pool:
            list(pool.map(ServerProcess.start, nodes))
        for node in nodes:
            node.terminate()
        signalled = time.monotonic()
        codes = await asyncio.gather(
            *(asyncio.get_running_loop().run_in_executor(None, node.wait, 8) for node in nodes)
        )
        assert set(codes) <= {0, -signal.SIGTERM}, codes  # uvicorn ends by re-raising it
        assert time.monotonic() - signalled < scaled(4)
    finally:
        for node in nodes:
            node.kill()
