"""The report's HTTP API: who may read it, bad input, the CSV, the keep time."""

from __future__ import annotations

import csv
import io

import pytest
import redis.asyncio
import websockets

from liveroom import auth
from liveroom.client import LiveroomClient
from liveroom.client.errors import BadRequest
from tests.analytics.live import Clock, LiveNode, body, join, leave, live_node, ok
from tests.liveclient import LiveClient
from tests.servers import API_KEY, SECRET
from tests.timeouts import scaled

T0 = 1_800_000_000 // 3600 * 3600


@pytest.fixture
async def node() -> LiveNode:  # type: ignore[misc]
    async with live_node(Clock(T0), pulse_s=0.1) as n:
        yield n


def bearer(user: str, room: str, role: str) -> str:
    return auth.mint(SECRET, user, room=room, role=role)


async def _counted_room(node: LiveNode, room: str = "a1") -> None:
    client = await join(node, room, "v1", "feed")
    await ok(client, "share")
    await leave(node, room, "v1", client)
    await node.analytics.flush()


async def test_unknown_room_is_404(node: LiveNode) -> None:
    """A room nothing was counted for has no report: 404, JSON and CSV."""
    for path in ("/api/rooms/nothing/report", "/api/rooms/nothing/report.csv"):
        error = body(await node.api("GET", path), 404)
        assert error["error"]["code"] == "not_found"


async def test_only_hosts_of_the_room_and_the_backend_read_it(node: LiveNode) -> None:
    """The backend and the room's host read the report; a viewer or another room's host not."""
    await _counted_room(node)
    assert body(await node.api("GET", "/api/rooms/a1/report"))["room"] == "a1"
    host = bearer("h1", "a1", "host")
    assert body(await node.api("GET", "/api/rooms/a1/report", key=host))["room"] == "a1"
    viewer = bearer("v1", "a1", "viewer")
    assert body(await node.api("GET", "/api/rooms/a1/report", key=viewer), 403)
    other = bearer("h2", "b1", "host")
    assert body(await node.api("GET", "/api/rooms/a1/report", key=other), 403)
    assert body(await node.api("GET", "/api/rooms/a1/report.csv", key=viewer), 403)
    assert body(await node.api("POST", "/api/rooms/a1/ad-spend", {"cents": 1}, key=viewer), 403)


@pytest.mark.parametrize("cents", [-1, "100", 12.5, None, True, [], 10**13])
async def test_bad_ad_spend_is_400(node: LiveNode, cents: object) -> None:
    """Negative, fractional, non-numeric or absurd spend gets a clear 400 and adds nothing."""
    error = body(await node.api("POST", "/api/rooms/a1/ad-spend", {"cents": cents}), 400)
    assert error["error"]["code"] == "bad_request"
    assert "cents" in error["error"]["message"]
    assert body(await node.api("GET", "/api/rooms/a1/report"), 404)


async def test_ad_spend_at_a_given_hour(node: LiveNode) -> None:
    """``at`` puts the spend in its hour; the report's hours show it."""
    reply = await node.api("POST", "/api/rooms/a1/ad-spend", {"cents": 700, "at": T0 + 7300})
    assert body(reply) == {"hour": T0 + 7200, "added": 700}
    for at in ("noon", 1e20, -1e19, 1e308, -1, T0 - 401 * 86400, T0 + 2 * 86400):
        bad = await node.api("POST", "/api/rooms/a1/ad-spend", {"cents": 1, "at": at})
        assert body(bad, 400)["error"]["code"] == "bad_request", at
    hours = body(await node.api("GET", "/api/rooms/a1/report"))["money"]["hours"]
    assert hours == [{"hour": T0 + 7200, "gmv": 0, "ad_spend": 700, "roi": 0.0}]


async def test_unknown_source_counts_as_other(node: LiveNode) -> None:
    """A join with an ``src`` outside the documented set is counted as "other"."""
    await join(node, "a2", "v1", "billboard")
    await join(node, "a2", "v2", "group")
    await join(node, "a2", "v3")
    await node.analytics.flush()
    sources = body(await node.api("GET", "/api/rooms/a2/report"))["sources"]
    assert sources["by_source"]["other"] == 2
    assert sources["by_source"]["group"] == 1
    assert (sources["public"], sources["private"]) == (2, 1)


async def test_csv_holds_the_reports_figures(node: LiveNode) -> None:
    """The CSV has one row per figure, with the same values as the JSON report."""
    await _counted_room(node)
    report = body(await node.api("GET", "/api/rooms/a1/report"))
    reply = await node.api("GET", "/api/rooms/a1/report.csv")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    value = {(r["group"], r["figure"], r["sku"], r["time"]): r["value"] for r in rows}
    assert value[("audience", "unique_viewers", "", "")] == "1"
    assert value[("interaction", "shares", "", "")] == "1"
    assert value[("interaction", "rate", "", "")] == "1.0"
    assert value[("sources", "feed", "", "")] == "1"
    minute = report["minutes"][0]["minute"]
    assert value[("minute", "shares", "", str(minute))] == "1"
    assert value[("watch", "retention_1m", "", "")] == "0.0"  # 0 s watched
    assert value[("money", "roi", "", "")] == ""  # no ad spend: no ROI


async def test_online_viewers_show_live(node: LiveNode) -> None:
    """While viewers watch, the report counts them online and their watch time grows."""
    clock = node.node.now
    assert isinstance(clock, Clock)
    a = await join(node, "l1", "v1", "feed")
    b = await join(node, "l1", "v2", "feed")
    clock.t = T0 + 90
    await leave(node, "l1", "v2", b)
    await node.analytics.flush()
    report = body(await node.api("GET", "/api/rooms/l1/report"))
    assert report["audience"]["online"] == 1
    assert report["audience"]["exits"] == 1
    assert report["watch"]["total_s"] == 180.0  # v1 still on: 90 s so far; v2 90 s
    assert report["watch"]["retention"]["1"] == 1.0
    await leave(node, "l1", "v1", a)


async def test_redis_report_keys_expire_after_the_keep_time(redis_url: str, prefix: str) -> None:
    """On Redis, every key of a room's report carries the configured keep time."""
    settings = {"engine": "redis", "redis_url": redis_url, "redis_prefix": prefix, "pulse_s": 0.1}
    async with live_node(Clock(T0), analytics_keep_days=2, **settings) as node:
        await _counted_room(node, "ttl1")
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:{{room:ttl1}}:an:*")]
        assert len(keys) >= 5
        for key in keys:
            ttl = await client.ttl(key)
            assert 2 * 86400 - 60 < ttl <= 2 * 86400, (key, ttl)
    finally:
        await client.aclose()


async def test_memory_report_is_forgotten_after_the_keep_time() -> None:
    """The memory engine keeps a report in-process until its keep time has passed."""
    clock = Clock(T0)
    async with live_node(clock, pulse_s=0.1, analytics_keep_days=1) as node:
        await _counted_room(node, "ttl2")
        clock.t = T0 + 86400 - 10
        assert body(await node.api("GET", "/api/rooms/ttl2/report"))["room"] == "ttl2"
        clock.t = T0 + 86400 + 10
        assert body(await node.api("GET", "/api/rooms/ttl2/report"), 404)


async def test_analytics_off_counts_nothing() -> None:
    """With ``analytics`` off, joins, shares and likes are not counted: no report exists."""
    async with live_node(Clock(T0), pulse_s=0.1, analytics=False) as node:
        assert not node.node.analytics.enabled
        client = await node_join_uncounted(node, "off1")
        await ok(client, "share")
        await ok(client, "like", count=2)
        await client.close()
        await node.analytics.flush()
        assert not node.analytics.tally.rooms
        assert body(await node.api("GET", "/api/rooms/off1/report"), 404)


async def node_join_uncounted(node: LiveNode, room: str) -> LiveClient:
    """Join without waiting for the tally (which counts nothing when analytics is off)."""
    url = f"{node.ws_url}?room={room}&token={bearer('v1', room, 'viewer')}"
    client = LiveClient(await websockets.connect(url, open_timeout=scaled(10)))
    await client.event("snapshot")
    return client


async def test_python_client_reads_the_report(node: LiveNode) -> None:
    """``lr.rooms``: ad spend, the report and its CSV, and ``BadRequest`` for a bad amount."""
    await _counted_room(node, "c1")
    async with LiveroomClient(node.url, api_key=API_KEY) as lr:
        assert await lr.rooms.add_ad_spend("c1", 2500) == T0
        with pytest.raises(BadRequest):
            await lr.rooms.add_ad_spend("c1", -5)
        report = await lr.rooms.report("c1")
        assert report["money"]["ad_spend"] == 2500
        assert report["interaction"]["shares"] == 1
        assert "money,ad_spend,,,2500" in await lr.rooms.report_csv("c1")
