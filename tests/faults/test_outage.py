"""Redis goes away for a few seconds: viewers stay, shared actions say ``unavailable``, no gap."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.cluster.rooms import LIMITS, assert_gapless, comments, post
from tests.flashsale.conftest import Api, sale_body
from tests.liveclient import LiveClient
from tests.redis_servers import RedisProcess
from tests.timeouts import eventually

ROOM = "outage"


async def ready(url: str) -> int:
    async with httpx.AsyncClient() as http:
        return (await http.get(url + "/readyz", timeout=5)).status_code


async def engine_up(server: Any) -> float:
    """``liveroom_engine_up`` as a scrape of ``/metrics`` finds it."""
    return await asyncio.to_thread(server.metric, "liveroom_engine_up")


async def test_redis_outage_keeps_viewers_and_resumes_without_gap(
    durable_redis: RedisProcess, start_server: Any
) -> None:
    """Stop Redis mid-stream: buys and comments say unavailable, /readyz is red and
    ``liveroom_engine_up`` 0 (on a scrape alone), then all heals."""
    server = start_server(
        engine="redis", redis_url=durable_redis.url, redis_prefix="lrf", pulse_s=0.2, **LIMITS
    )
    api = Api(server.url)
    viewers = [await LiveClient.connect(server.ws_url, ROOM, f"v{i}") for i in range(3)]
    writer = await LiveClient.connect(server.ws_url, ROOM, "writer")
    talker = await LiveClient.connect(server.ws_url, ROOM, "talker")
    everyone = [*viewers, writer, talker]
    try:
        await asyncio.gather(*(c.event("snapshot") for c in everyone))
        created = await api.create(ROOM, **sale_body(stock=10, limit=5), open=True)
        assert created.status_code == 200, created.text
        bought = await writer.command("buy", sale="s1", quantity=1, request_id="b1")
        assert bought["ok"], bought
        acked: list[dict[str, Any]] = []
        stopped = asyncio.Event()

        async def keep_writing() -> None:  # fan-out goes on across the outage
            for i in range(30):
                if i == 5:
                    await stopped.wait()  # the other 25 go while Redis is down, and after
                acked.append(await post(talker, f"c{i}", timeout=30))

        writing = asyncio.create_task(keep_writing())
        await eventually(lambda: len(acked) >= 5, timeout=10)

        durable_redis.stop()
        stopped.set()
        # /metrics says so by itself, before any /readyz probe
        assert await eventually(lambda: _is(engine_up(server), 0.0), timeout=10)
        assert await eventually(lambda: _is(ready(server.url), 503), timeout=10)
        refused = await writer.command("comment", timeout=15, text="lost")
        assert refused["error"]["code"] == "unavailable", refused
        refused = await writer.command("buy", timeout=15, sale="s1", quantity=1, request_id="b2")
        assert refused["error"]["code"] == "unavailable", refused
        http_buy = await api.buy(ROOM, "s1", "httpbuyer", "h1")
        assert http_buy.json()["error"]["code"] == "unavailable", http_buy.text
        pong = await viewers[0].command("ping")
        assert pong["ok"], "the node itself still answers its viewers"
        assert all(c.closed is None for c in everyone), "nobody was disconnected"
        during = len(acked)

        durable_redis.start()
        assert await eventually(lambda: _is(engine_up(server), 1.0), timeout=15)
        assert await eventually(lambda: _is(ready(server.url), 200), timeout=15)
        await writing
        assert during < 30, "the outage fell inside the stream of comments"
        again = await writer.command("buy", sale="s1", quantity=1, request_id="b2")
        assert again["ok"], again

        offsets = [a["offset"] for a in acked]
        assert offsets == sorted(set(offsets)), "offsets go on rising after Redis came back"
        for viewer in viewers:
            await viewer.wait(lambda v=viewer: {o for o, _ in comments(v)} >= set(offsets), 15)
            assert_gapless(viewer)
            assert viewer.closed is None
        report = await api.audit(ROOM, "s1")
        assert report["ok"] and report["stock"] == 8, report
    finally:
        await asyncio.gather(*(c.close() for c in everyone))
        await api.close()


async def _is(status: Any, expected: float) -> bool:
    return bool(await status == expected)


async def test_engine_up_reads_0_while_redis_hangs(
    durable_redis: RedisProcess, start_server: Any
) -> None:
    """A Redis that hangs (SIGSTOP: its connections stay open, nothing answers) is down for
    ``liveroom_engine_up`` within a few seconds, on scrapes alone (the node asks every 2 s, and
    gives up on an answer after 2 s); once it answers again, the gauge is back to 1."""
    server = start_server(engine="redis", redis_url=durable_redis.url, redis_prefix="lrh")
    assert await eventually(lambda: _is(engine_up(server), 1.0), timeout=10)
    durable_redis.freeze()
    try:
        assert await eventually(lambda: _is(engine_up(server), 0.0), timeout=15)
    finally:
        durable_redis.thaw()
    assert await eventually(lambda: _is(engine_up(server), 1.0), timeout=15)
