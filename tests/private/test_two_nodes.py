"""Acceptance 4 of issue 22, on two nodes sharing one Redis: the private cards reach only their
user, on every node that user is on, and each booked user's ``room.started`` reaches the
backend's feed exactly once, whichever node announces it (or a sweep, after the room started
on a node that did not)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from liveroom.engine.redis import RedisEngine
from liveroom.features.events.endpoints import new_secret
from tests.conftest import make_settings
from tests.events.checks import outbox
from tests.events.receiver import Receiver
from tests.events.shop import endpoints_env
from tests.events.test_webhooks import FAST_FEED, delivered_everything
from tests.liveclient import LiveClient
from tests.redis_servers import no_redis, reachable
from tests.servers import API_KEY, ServerProcess
from tests.timeouts import eventually, scaled

BACKEND = {"Authorization": f"Bearer {API_KEY}"}
INVITE = {"message": "Join our tea club", "link": "https://example.com/club"}
SERVICE = {"message": "Questions? Ask us", "image": "https://example.com/cs-qr.png"}
SALE = {"id": "s1", "sku": "T1", "title": "Tea", "price": 990, "stock": 5, "open": True}


@pytest.fixture
async def feed() -> AsyncIterator[tuple[Receiver, str]]:
    """A webhook receiver standing in for the shop's backend, and its secret."""
    secret = new_secret()
    receiver = await Receiver(secret).start()
    try:
        yield receiver, secret
    finally:
        await receiver.stop()


@pytest.fixture
def nodes(
    start_server: Any, redis_url: str, prefix: str, feed: tuple[Receiver, str]
) -> list[ServerProcess]:
    """Two nodes on one Redis and key prefix, each delivering the feed to the receiver."""
    if not reachable(redis_url):
        no_redis(redis_url)
    receiver, secret = feed
    settings = {
        "engine": "redis",
        "redis_url": redis_url,
        "redis_prefix": prefix,
        "feed_endpoints": endpoints_env(receiver.url, secret),
        "sweep_interval_s": 0.2,
        **FAST_FEED,
    }
    return [start_server(**settings), start_server(**settings)]


async def call(node: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    """One backend (API key) call; its JSON answer, which must be a 200."""
    async with httpx.AsyncClient(base_url=node.url, timeout=scaled(10)) as http:
        response = await http.request(method, path, json=body, headers=BACKEND)
    assert response.status_code == 200, response.text
    return response.json()


async def marker(node: ServerProcess, room: str, text: str, *clients: LiveClient) -> None:
    """A system message to the room, awaited by each client: a notice sent to a user before
    it would have reached that user's connection first (one channel, in order)."""
    await call(node, "POST", f"/api/rooms/{room}/system", {"text": text})
    for client in clients:
        await client.event("system", text=text)


async def test_the_private_cards_reach_only_their_user(
    nodes: list[ServerProcess], feed: tuple[Receiver, str], redis_url: str, prefix: str
) -> None:
    """Alice follows on node 0 with a second tab on node 1: both tabs get the invite card, Bob
    (node 1) gets the follower count and no card, the backend one ``user.followed`` from the
    host's outbox. Her paid order brings the service card once, however often it is confirmed;
    Bob gets none. An anonymous follow is refused."""
    a, b = nodes
    room = "pt1"
    await call(a, "PATCH", f"/api/rooms/{room}", {"host": "shop1", "title": "Tea"})
    await call(a, "PUT", f"/api/rooms/{room}/private-cards/invite", INVITE)
    await call(b, "PUT", f"/api/rooms/{room}/private-cards/service?scope=host", SERVICE)
    await call(a, "POST", f"/api/rooms/{room}/sales", SALE)
    alice = await LiveClient.connect(a.ws_url, room, "alice")
    alice2 = await LiveClient.connect(b.ws_url, room, "alice")
    bob = await LiveClient.connect(b.ws_url, room, "bob")
    anon = await LiveClient.connect(a.ws_url, room, None)
    clients = [alice, alice2, bob, anon]
    try:
        for client in clients:
            await client.event("snapshot")
        refused = await anon.command("follow")
        assert refused["ok"] is False and refused["error"]["code"] == "login_required"
        followed = await alice.command("follow")
        assert alice.of_type("private_mine") == []  # neither following nor booked: not sent
        assert followed["ok"] and followed["new"] and followed["followers"] == 1
        for tab in (alice, alice2):
            assert (await tab.event("invite_card"))["card"] == INVITE
        assert (await bob.event("followers"))["count"] == 1
        again = await alice.command("follow")
        assert again["ok"] and not again["new"] and again["followers"] == 1

        bought = await alice.command("buy", sale="s1", quantity=1, request_id="k1")
        assert bought["ok"], bought
        confirm = f"/api/rooms/{room}/sales/s1/orders/{bought['order']}/confirm"
        await call(b, "POST", confirm)
        await call(a, "POST", confirm)  # repeated, on the other node: no second card
        card = await alice.event("service_card")
        assert (card["card"], card["order"], card["order_kind"]) == (
            SERVICE,
            bought["order"],
            "sale",
        )

        await marker(a, room, "after the cards", *clients)
        for other in (bob, anon):
            got = {e["type"] for e in other.events}
            assert not got & {"invite_card", "service_card"}, got
        assert len(alice.of_type("service_card")) == 1 and len(alice2.of_type("service_card")) == 1
        assert len(alice.of_type("invite_card")) == 2  # one per follow answered ok
        client = aioredis.Redis.from_url(redis_url)
        try:
            await delivered_everything(client, prefix, ["host.shop1"], feed[0])
        finally:
            await client.aclose()
        follows = {e["id"]: e for e in feed[0].arrivals if e["type"] == "user.followed"}
        assert [(e["room"], e["data"]) for e in follows.values()] == [
            ("host.shop1", {"user": "alice", "host": "shop1", "in_room": room, "followers": 1})
        ]
    finally:
        for client in clients:
            await client.close()


async def test_each_booked_user_hears_the_start_once(
    nodes: list[ServerProcess],
    feed: tuple[Receiver, str],
    redis_url: str,
    prefix: str,
) -> None:
    """Bookings over both nodes (WebSocket and the backend's HTTP, one repeated); the room goes
    live through node 1 while viewers sit on both: the feed holds exactly one ``room.started``
    per booked user, and a booking after the start is refused."""
    a, b = nodes
    receiver, _ = feed
    room = "bk1"
    scheduled = await call(a, "PUT", f"/api/rooms/{room}/booking", {"title": "Spring tea"})
    assert scheduled["booking"]["state"] == "open"
    viewers = [
        await LiveClient.connect(node.ws_url, room, f"v{n}") for n, node in enumerate(nodes * 2)
    ]
    try:
        for viewer in viewers:
            snapshot = await viewer.event("snapshot")
            assert snapshot["booking"]["state"] == "open"
            answer = await viewer.command("book")
            assert answer["ok"] and answer["new"], answer
        for user in ("app1", "app2", "app1"):
            await call(b, "POST", f"/api/rooms/{room}/booking", {"user": user})
        booked = {f"v{n}" for n in range(len(viewers))} | {"app1", "app2"}

        await call(b, "PATCH", f"/api/rooms/{room}", {"title": "Spring tea, live"})
        late = await viewers[0].command("book")
        assert late["error"]["code"] == "room_live"
        started = await started_per_user(redis_url, prefix, room, booked)
        assert started == Counter(booked)
        client = aioredis.Redis.from_url(redis_url)
        try:
            await delivered_everything(client, prefix, [room], receiver)
        finally:
            await client.aclose()
        heard = {e["id"]: e for e in receiver.arrivals if e["type"] == "room.started"}
        per_user = Counter(e["data"].get("user") for e in heard.values())
        assert per_user == Counter({**Counter(booked), None: 1})  # and the room's own
        bookings = Counter(
            e["data"]["user"] for e in receiver.arrivals if e["type"] == "room.booked"
        )
        assert set(bookings) == booked
    finally:
        for viewer in viewers:
            await viewer.close()


async def test_a_start_no_node_announced_is_swept(
    nodes: list[ServerProcess], redis_url: str, prefix: str
) -> None:
    """The room goes live behind the nodes' backs (as when the node that started it died
    before announcing, with no viewer anywhere to relay it): the sweep announces every booking,
    once."""
    a, b = nodes
    room = "bk2"
    await call(a, "PUT", f"/api/rooms/{room}/booking", {"title": "Night tea", "starts": 1.9e9})
    booked = {f"u{n}" for n in range(30)}
    for n, user in enumerate(sorted(booked)):
        await call(nodes[n % 2], "POST", f"/api/rooms/{room}/booking", {"user": user})
    engine = RedisEngine(make_settings(engine="redis", redis_url=redis_url, redis_prefix=prefix))
    await engine.open()
    try:
        await engine.put_room_info(room, {"title": "Night tea", "ended": False})
    finally:
        await engine.close()
    assert await started_per_user(redis_url, prefix, room, booked) == Counter(booked)
    answer = await call(b, "GET", f"/api/rooms/{room}/booking")
    assert answer["booking"]["state"] == "started" and answer["booking"]["bookings"] == 30


async def started_per_user(
    redis_url: str, prefix: str, room: str, booked: set[str]
) -> Counter[str]:
    """Once every booked user has a ``room.started`` in the room's outbox and none is left to
    announce: how many each has."""
    client = aioredis.Redis.from_url(redis_url)

    async def per_user() -> Counter[str]:
        entries = await outbox(client, prefix, room)
        return Counter(
            e.event()["data"]["user"]
            for e in entries
            if e.type == "room.started" and "user" in e.event()["data"]
        )

    try:
        await eventually(lambda: _covers(per_user(), booked), timeout=15)
        await eventually(lambda: _nothing_pending(client, prefix, room), timeout=5)
        return await per_user()
    finally:
        await client.aclose()


async def _covers(counts: Any, booked: set[str]) -> bool:
    return set(await counts) >= booked


async def _nothing_pending(client: aioredis.Redis, prefix: str, room: str) -> bool:
    key = f"{prefix}:{{room:{room}}}:private:pending"
    return int(await client.scard(key)) == 0
