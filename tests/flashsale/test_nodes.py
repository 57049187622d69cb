"""Two server processes on one real Redis: the race, idempotency across nodes, expiry sweeps."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.flashsale.conftest import Api, KeepAlive, bearer, sale_body
from tests.liveclient import LiveClient
from tests.redis_servers import no_redis, reachable
from tests.servers import ServerProcess
from tests.timeouts import eventually

_rooms = itertools.count(1)


@pytest.fixture(scope="module")
def nodes(redis_url: str) -> Iterator[list[ServerProcess]]:
    """Two liveroom nodes sharing one Redis under a key prefix of this module's own."""
    if not reachable(redis_url):
        no_redis(redis_url)
    prefix = "lrt-" + uuid.uuid4().hex[:10]
    settings: dict[str, object] = {
        "engine": "redis",
        "redis_url": redis_url,
        "redis_prefix": prefix,
        "sweep_interval_s": 0.1,
        "max_conns_per_ip": 0,
        "admit_address_rate": 0,
    }
    started = [ServerProcess(**settings).start() for _ in range(2)]
    yield started
    for server in started:
        server.stop()
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    client.close()


@pytest.fixture
def room() -> str:
    return f"nodes{next(_rooms)}"


@pytest.fixture
async def apis(nodes: list[ServerProcess]) -> Any:
    clients = [Api(node.url) for node in nodes]
    yield clients
    for client in clients:
        await client.close()


async def connect_all(nodes: list[ServerProcess], room: str, users: list[str]) -> list[LiveClient]:
    async def one(i: int, user: str) -> LiveClient:
        client = await LiveClient.connect(nodes[i % len(nodes)].ws_url, room=room, user=user)
        await client.event("snapshot", timeout=20)
        return client

    return list(await asyncio.gather(*(one(i, u) for i, u in enumerate(users))))


async def test_two_thousand_buyers_race_for_one_hundred_units(
    nodes: list[ServerProcess], apis: list[Api], room: str
) -> None:
    """3,000 buys from 2,000 buyers over WebSocket and HTTP on two nodes take exactly 100 units.

    200 WebSocket buyers send six buys each (quantities 1 and 2, so the limit is tried), 1,800
    HTTP buyers one each; none may end above the limit of 2.
    """
    created = await apis[0].create(room, **sale_body(stock=100, limit=2))
    assert created.status_code == 200, created.text
    ws_users = [f"w{i}" for i in range(200)]
    http_users = [f"h{i}" for i in range(1800)]
    quantities = (1, 2, 1, 1, 2, 1)
    clients = await connect_all(nodes, room, ws_users)
    pools = [await KeepAlive(node.port).open() for node in nodes]
    try:
        opened = await apis[1].post(f"/api/rooms/{room}/sales/s1/open")
        assert opened.status_code == 200

        async def ws_buyer(client: LiveClient) -> list[tuple[str, int, dict[str, Any]]]:
            user = client_user[client]
            replies = await asyncio.gather(
                *(
                    client.command("buy", timeout=60, sale="s1", quantity=q, request_id=f"k{n}")
                    for n, q in enumerate(quantities)
                )
            )
            return [(user, q, r) for q, r in zip(quantities, replies, strict=True)]

        async def http_buyer(i: int, user: str) -> list[tuple[str, int, dict[str, Any]]]:
            quantity = 2 if i % 5 == 0 else 1
            status, body = await pools[i % 2].post(
                f"/api/rooms/{room}/sales/s1/buy",
                {"quantity": quantity, "request_id": "k0"},
                bearer(user, room),
            )
            assert status in (200, 409), body
            return [(user, quantity, {"ok": status == 200, **body})]

        client_user = {client: user for client, user in zip(clients, ws_users, strict=True)}
        results = await asyncio.gather(
            *(ws_buyer(c) for c in clients),
            *(http_buyer(i, u) for i, u in enumerate(http_users)),
        )
    finally:
        await asyncio.gather(*(c.close() for c in clients))
        for pool in pools:
            await pool.close()
    answers = [item for batch in results for item in batch]
    assert len(answers) == 200 * 6 + 1800
    granted: Counter[str] = Counter()
    orders: list[str] = []
    codes: Counter[str] = Counter()
    for user, quantity, reply in answers:
        if reply["ok"]:
            granted[user] += reply["quantity"]
            assert reply["quantity"] == quantity
            orders.append(reply["order"])
            codes["ok"] += 1
        else:
            codes[reply["error"]["code"]] += 1
    assert set(codes) <= {"ok", "sold_out", "limit_reached"}, codes
    assert sum(granted.values()) == 100, codes
    assert max(granted.values()) <= 2
    assert len(set(orders)) == len(orders)
    report = await apis[0].audit(room, "s1")
    assert report["ok"], report
    assert (report["total"], report["stock"], report["reserved"]) == (100, 0, 100)
    assert report["orders"] == len(orders) and report["over_limit"] == []


async def test_same_request_id_on_two_nodes_makes_one_order(
    nodes: list[ServerProcess], apis: list[Api], room: str
) -> None:
    """One request id sent over WebSocket to one node and HTTP to the other: one order."""
    await apis[0].create(room, **sale_body(stock=10, limit=5), open=True)
    clients = await connect_all(nodes, room, ["u1", "u1"])
    try:
        replies = await asyncio.gather(
            *(c.command("buy", sale="s1", quantity=1, request_id="same") for c in clients),
            *(api.buy(room, "s1", "u1", "same") for api in apis),
        )
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    ws = replies[:2]
    http = [r.json() for r in replies[2:]]  # type: ignore[union-attr]
    assert all(r["ok"] for r in ws), ws  # type: ignore[index]
    order_ids = {r["order"] for r in ws} | {r["order"] for r in http}  # type: ignore[index]
    deadlines = {r["deadline"] for r in ws} | {r["deadline"] for r in http}  # type: ignore[index]
    assert len(order_ids) == 1 and len(deadlines) == 1
    report = await apis[1].audit(room, "s1")
    assert report["ok"] and report["orders"] == 1 and report["stock"] == 9


async def test_unpaid_orders_expire_once_with_two_sweepers(
    nodes: list[ServerProcess], apis: list[Api], room: str
) -> None:
    """Past the deadline both nodes sweep; stock comes back exactly once and sells again."""
    await apis[0].create(room, **sale_body(stock=6, limit=2, payment_s=0.5), open=True)
    watcher = await LiveClient.connect(nodes[1].ws_url, room=room, user="watch")
    try:
        await watcher.event("snapshot")
        bought = [await apis[i % 2].buy(room, "s1", f"u{i}", "a", 2) for i in range(3)]
        assert all(b.status_code == 200 for b in bought)
        paid_order = bought[0].json()["order"]
        confirm = await apis[1].post(f"/api/rooms/{room}/sales/s1/orders/{paid_order}/confirm")
        assert confirm.status_code == 200
        sold = await apis[0].buy(room, "s1", "late", "a")
        assert sold.json()["error"]["code"] == "sold_out"

        async def released() -> dict[str, Any] | None:
            report = await apis[0].audit(room, "s1")
            return report if report["expired"] == 4 else None

        report = await eventually(released, timeout=10)
        assert report["ok"], report
        assert (report["stock"], report["reserved"], report["paid"]) == (4, 0, 2)
        for response in bought[1:]:
            order = response.json()["order"]
            seen = await apis[1].get(f"/api/rooms/{room}/sales/s1/orders/{order}")
            assert seen.json()["order"]["status"] == "expired"
        await watcher.wait(lambda: any(e["sale"]["stock"] == 4 for e in watcher.of_type("sale")))
        again = await apis[1].buy(room, "s1", "u1", "b", 2)
        assert again.status_code == 200, again.text
        assert (await apis[0].buy(room, "s1", "u0", "b", 1)).json()["error"]["code"] == (
            "limit_reached"
        )
        final = await apis[0].audit(room, "s1")
        assert final["ok"] and final["stock"] == 2 and final["expired"] == 4
    finally:
        await watcher.close()


async def test_viewers_on_both_nodes_see_the_stock(
    nodes: list[ServerProcess], apis: list[Api], room: str
) -> None:
    """A buy on one node moves the stock viewers see on the other."""
    await apis[0].create(room, **sale_body(stock=3, limit=3), open=True)
    viewers = await connect_all(nodes, room, ["a", "b"])
    try:
        reply = await viewers[0].command("buy", sale="s1", quantity=3, request_id="x")
        assert reply["ok"], reply
        for viewer in viewers:
            event = await viewer.event("sold_out")
            assert event["sale"]["stock"] == 0
        listed = await apis[1].get(f"/api/rooms/{room}/sales", headers=bearer("a", room))
        assert listed.json()["sales"][0]["stock"] == 0
    finally:
        await asyncio.gather(*(v.close() for v in viewers))
