"""A script call whose connection is lost after Redis ran it, before its reply came back, is
sent again and still takes effect once: the event is in history and on pub/sub exactly once,
and its sender gets the first attempt's answer (``scripts.py``, ``publish.lua``'s retry).

The fault is real: the engine talks to a private redis-server through ``CuttingProxy``, which
forwards a chosen request to Redis and then closes the engine's connection instead of passing
the reply on (or, ``before=True``, closes it before the request reaches Redis).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson
import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from liveroom.engine.base import CommentRules, Posted
from liveroom.engine.coupons import CouponKind
from liveroom.engine.redis import RedisEngine
from liveroom.engine.redis_retry import OnceRetry
from liveroom.engine.scripts import Scripts
from liveroom.errors import EngineUnavailable
from liveroom.features.coupons.store import Batch, Claim, Eligibility
from liveroom.features.coupons.store_redis import RedisCouponStore
from tests.conftest import make_settings
from tests.redis_servers import RedisProcess
from tests.timeouts import scaled


class CuttingProxy:
    """A TCP proxy to Redis that cuts one connection at a chosen request.

    ``arm(marker)``: the next request holding ``marker`` reaches Redis, and the connection that
    sent it is closed when Redis answers, the answer dropped. ``before=True``: closed at once,
    the request never sent. ``cut`` is set once it happened.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.marker: bytes | None = None
        self.before = False
        self.cut = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def start(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def arm(self, marker: bytes, *, before: bool = False) -> None:
        self.marker, self.before = marker, before
        self.cut.clear()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        redis_r, redis_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers += [client_w, redis_w]
        drop = asyncio.Event()

        async def upward() -> None:
            while data := await client_r.read(65536):
                if self.marker is not None and self.marker in data:
                    self.marker = None
                    if self.before:
                        client_w.transport.abort()
                        redis_w.close()
                        self.cut.set()
                        return
                    drop.set()
                redis_w.write(data)
                await redis_w.drain()
            redis_w.close()

        async def downward() -> None:
            while data := await redis_r.read(65536):
                if drop.is_set():
                    # Redis ran the request: its answer goes nowhere, the connection dies
                    client_w.transport.abort()
                    redis_w.close()
                    self.cut.set()
                    return
                client_w.write(data)
                await client_w.drain()
            client_w.close()

        for part in (upward(), downward()):
            task = asyncio.create_task(self._quietly(part))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _quietly(part: object) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            await part  # type: ignore[misc]


@pytest.fixture
async def server(private_redis: list[RedisProcess]) -> RedisProcess:
    proc = RedisProcess().start()
    private_redis.append(proc)
    return proc


@pytest.fixture
async def proxy(server: RedisProcess) -> AsyncIterator[CuttingProxy]:
    cutting = await CuttingProxy(server.port).start()
    yield cutting
    await cutting.close()


@pytest.fixture
async def engine(proxy: CuttingProxy) -> AsyncIterator[RedisEngine]:
    eng = RedisEngine(make_settings(engine="redis", redis_url=proxy.url, redis_prefix="lr"))
    await eng.open()
    # publish.lua loaded: a trapped call is the script's run, not a NOSCRIPT answer
    await eng.publish("warm", event("warm"))
    try:
        yield eng
    finally:
        await eng.close()


class Listener:
    """Every message on one room's channel, read straight from Redis (not through the proxy)."""

    def __init__(self, url: str, channel: str) -> None:
        self.client = aioredis.Redis.from_url(url)
        self.pubsub = self.client.pubsub()
        self.channel = channel
        self.bodies: list[bytes] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Listener:
        await self.pubsub.subscribe(self.channel)
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for message in self.pubsub.listen():
            if message["type"] == "message":
                self.bodies.append(bytes(message["data"]))

    async def until(self, marker: bytes) -> list[bytes]:
        """Every message up to the first holding ``marker``: what came before it in order."""
        async with asyncio.timeout(scaled(5.0)):
            while not any(marker in body for body in self.bodies):
                await asyncio.sleep(0.01)
        return self.bodies

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.pubsub.aclose()
        await self.client.aclose()


def event(text: str) -> bytes:
    return orjson.dumps({"type": "comment", "text": text})


def offset(payload: bytes) -> int:
    return int(orjson.loads(payload)["offset"])


async def history_texts(engine: RedisEngine, room: str) -> list[str]:
    head = await engine.head(room)
    got = await engine.history(room, 0, 100, head.epoch)
    return [orjson.loads(e)["text"] for e in got.events]


async def test_publish_after_a_lost_reply_appends_once(
    engine: RedisEngine, proxy: CuttingProxy, server: RedisProcess
) -> None:
    """A publish whose reply is lost after Redis ran it is in history and on pub/sub once,
    and its sender gets the first attempt's offset."""
    await engine.publish("r1", event("before"))
    async with Listener(server.url, engine.keys("r1").channel) as listener:
        proxy.arm(b"trapped")
        payload = await engine.publish("r1", event("trapped"))
        assert proxy.cut.is_set()
        await engine.publish("r1", event("after"))
        seen = await listener.until(b"after")
    assert offset(payload) == 2
    assert [b for b in seen if b"trapped" in b] == [payload]
    assert await history_texts(engine, "r1") == ["before", "trapped", "after"]


async def test_publish_cut_before_it_reached_redis_appends_once(
    engine: RedisEngine, proxy: CuttingProxy
) -> None:
    """A publish whose connection dies before Redis saw it is sent again and appended once."""
    proxy.arm(b"unsent", before=True)
    payload = await engine.publish("r1", event("unsent"))
    assert proxy.cut.is_set()
    assert offset(payload) == 1
    assert await history_texts(engine, "r1") == ["unsent"]


@pytest.mark.parametrize("dedupe_s", [0.0, 30.0], ids=["no-dedupe", "dedupe"])
async def test_comment_after_a_lost_reply_is_posted_once(
    engine: RedisEngine, proxy: CuttingProxy, server: RedisProcess, dedupe_s: float
) -> None:
    """A comment whose reply is lost is posted once and answered ``ok`` with its offset, with
    the dedupe window on (the retry is not taken for a duplicate of itself) or off."""
    rules = CommentRules(
        user_limit=100,
        user_window_s=10,
        room_cap=0,
        dedupe_window_s=dedupe_s,
    )
    key = "digest-of-trapped" if dedupe_s else ""
    async with Listener(server.url, engine.keys("r1").channel) as listener:
        proxy.arm(b"trapped")
        result = await engine.post_comment("r1", "u1", event("trapped"), rules, key)
        assert proxy.cut.is_set()
        await engine.publish("r1", event("after"))
        seen = await listener.until(b"after")
    assert result.status is Posted.OK
    assert result.payload is not None and offset(result.payload) == 1
    assert [b for b in seen if b"trapped" in b] == [result.payload]
    assert await history_texts(engine, "r1") == ["trapped", "after"]
    counters = await engine.counters("r1")
    assert counters["comments"] == 1
    again = await engine.post_comment("r1", "u1", event("trapped"), rules, key)
    assert again.status is (Posted.DUPLICATE if dedupe_s else Posted.OK)


async def test_hidden_comment_after_a_lost_reply_stays_hidden(
    engine: RedisEngine, proxy: CuttingProxy
) -> None:
    """A hidden comment (dedupe on) whose reply is lost is answered ``hidden`` again, not
    ``duplicate``: the dedupe key its first attempt left is known as its own."""
    rules = CommentRules(
        user_limit=100,
        user_window_s=10,
        room_cap=0,
        dedupe_window_s=30.0,
        hidden=True,
    )
    proxy.arm(b"secret")
    result = await engine.post_comment("r1", "u1", event("secret"), rules, "digest-of-secret")
    assert proxy.cut.is_set()
    assert result.status is Posted.HIDDEN
    assert await history_texts(engine, "r1") == []


async def test_pipelined_calls_after_a_lost_reply_each_append_once(
    engine: RedisEngine, proxy: CuttingProxy, server: RedisProcess
) -> None:
    """A pipeline of publishes (one loop turn's, and a ``run_many`` batch) whose replies are
    lost is sent again: every event once, in call order, each caller with its own offset."""
    async with Listener(server.url, engine.keys("r1").channel) as listener:
        proxy.arm(b"p2")
        payloads = await asyncio.gather(*(engine.publish("r1", event(f"p{i}")) for i in range(5)))
        assert proxy.cut.is_set()
        k = engine.keys("r1")
        calls = [
            (
                [k.seq, k.log, k.comments, k.epoch],
                [k.channel, event(f"m{i}"), 100, 0, 0, "PUBLISH", f"batch.{i}"],
            )
            for i in range(3)
        ]
        proxy.arm(b"m1")
        replies = await engine.core.run_many("publish", calls)
        assert proxy.cut.is_set()
        await engine.publish("r1", event("after"))
        seen = await listener.until(b"after")
    assert [offset(p) for p in payloads] == [1, 2, 3, 4, 5]
    assert [offset(bytes(reply[1])) for reply in replies] == [6, 7, 8]
    texts = [*(f"p{i}" for i in range(5)), *(f"m{i}" for i in range(3)), "after"]
    assert await history_texts(engine, "r1") == texts
    assert [orjson.loads(b)["text"] for b in seen if not b.startswith(b"@")] == texts


async def test_mute_after_a_lost_reply_leaves_one_business_event(
    engine: RedisEngine, proxy: CuttingProxy
) -> None:
    """``mute.lua`` (``-- retry: lookup``) whose reply is lost is sent again, finds the mute in
    place and leaves no second ``user.muted`` event."""
    outbox = await engine.core.outbox("r1")
    await engine.mute("warm", "someone", 4_000_000_000.0)  # mute.lua loaded
    proxy.arm(b"mutee")
    await engine.mute("r1", "mutee", 4_000_000_000.0)
    assert proxy.cut.is_set()
    assert await engine.client.xlen(outbox) == 1
    assert "mutee" in await engine.muted("r1")


async def test_pulse_after_a_lost_reply_adds_the_likes_once(
    engine: RedisEngine, proxy: CuttingProxy
) -> None:
    """``pulse.lua`` whose reply is lost is sent again, finds its node's expiry as it wrote it,
    and does not add the node's new likes a second time."""
    await engine.pulse("warm", "n0", 1, 0)  # pulse.lua loaded
    proxy.arm(b"trapnode")
    pulse = await engine.pulse("r1", "trapnode", 3, 7)
    assert proxy.cut.is_set()
    assert (pulse.online, pulse.likes) == (3, 7)
    assert (await engine.counters("r1"))["likes"] == 7


async def test_a_script_without_a_retry_header_is_not_sent_again(
    engine: RedisEngine, proxy: CuttingProxy
) -> None:
    """``sale_adjust.lua`` (no ``-- retry:`` header: it adds units) whose reply is lost answers
    unavailable; neither redis-py nor the engine sent it a second time."""
    flashsale = "liveroom.features.flashsale"
    for key in ("warm-sale", "trap-sale"):
        await engine.client.hset(key, mapping={"stock": 10, "total": 10, "version": 1})
    await engine.core.run("sale_adjust", ["warm-sale"], [1], flashsale)  # loaded
    proxy.arm(b"trap-sale")
    with pytest.raises(EngineUnavailable):
        await engine.core.run("sale_adjust", ["trap-sale"], [5], flashsale)
    assert proxy.cut.is_set()
    assert await engine.client.hget("trap-sale", "stock") == b"15"


async def test_coupon_claim_after_a_lost_reply_answers_ok_once(
    engine: RedisEngine, proxy: CuttingProxy
) -> None:
    """``coupon_claim.lua`` whose reply is lost is sent again and answers ``ok`` with the
    coupon its first attempt made (not ``already_claimed``); one coupon, one event."""
    store = RedisCouponStore(engine.core)
    batch = Batch(
        id="b1",
        room="r1",
        title="10 off",
        kind=CouponKind.AMOUNT,
        value=1000,
        cap=0,
        min=0,
        sku="",
        count=5,
        start=0,
        end=0,
        valid_s=0,
        valid_until=0,
        eligibility=Eligibility.ALL,
        keyword="",
        created=0,
    )
    assert await store.issue("r1", batch)
    await store.claim("r1", "b1", "someone")  # coupon_claim.lua loaded
    proxy.arm(b"claimer")
    result = await store.claim("r1", "b1", "claimer")
    assert proxy.cut.is_set()
    assert result.answer is Claim.OK
    assert result.coupon is not None and result.batch is not None
    assert result.batch.claimed == 2
    events = await engine.client.xrange(engine.keys("r1").outbox)
    claims = [e for _, e in events if e[b"type"] == b"coupon.claimed"]
    assert [orjson.loads(e[b"data"])["user"] for e in claims] == ["someone", "claimer"]


async def test_a_call_on_its_own_after_a_lost_reply_appends_once(proxy: CuttingProxy) -> None:
    """Unpipelined (the Cluster's way: each call on its own, ``Scripts._call``), a publish
    whose reply is lost is sent again as a lookup and appended once; the injected client got
    an ``OnceRetry`` with its own policy."""
    client = aioredis.Redis.from_url(proxy.url, retry=Retry(NoBackoff(), 1))
    scripts = Scripts(client, pipelined=False)
    assert isinstance(client.get_retry(), OnceRetry)
    keys = ["lr:{room:r9}:seq", "lr:{room:r9}:log", "lr:{room:r9}:comments", "lr:{room:r9}:epoch"]

    def args(text: str) -> list[object]:
        return ["lr:{room:r9}:ch", event(text), 100, 0, 0, "PUBLISH", f"alone.{text}"]

    try:
        await scripts.run("publish", keys, args("first"))  # loaded
        proxy.arm(b"trapped")
        status, payload = await scripts.run("publish", keys, args("trapped"))
        assert proxy.cut.is_set()
        assert (status, offset(payload)) == (b"ok", 2)
        assert await client.xlen("lr:{room:r9}:log") == 2
    finally:
        await client.aclose()
