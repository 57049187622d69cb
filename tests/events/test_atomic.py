"""Acceptance 3: no event without its state change, nor the reverse. Redis is killed in the
middle of a buy storm; after it restarts from its append-only file, the outbox and the sale's
ledger name exactly the same orders."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import redis.asyncio as aioredis

from tests.events.checks import outbox
from tests.flashsale.conftest import Api, KeepAlive, bearer, sale_body
from tests.redis_servers import RedisProcess

AOF = ("--appendonly", "yes", "--appendfsync", "always")


async def test_redis_killed_mid_buy_storm_leaves_outbox_and_ledger_equal(
    start_server: Any, private_redis: list[RedisProcess]
) -> None:
    """3,000 buyers; Redis SIGKILLed after 400 orders; restarted: every order in the ledger has
    its order.reserved event and every event its order, acknowledged buys among them."""
    store = RedisProcess(*AOF).start()
    private_redis.append(store)
    node = start_server(
        engine="redis", redis_url=store.url, max_conns_per_ip=0, admit_address_rate=0
    )
    api = Api(node.url)
    pool = await KeepAlive(node.port, 32).open()
    acked: list[str] = []
    refused: list[int] = []
    try:
        created = await api.create("storm", **sale_body(stock=100_000, limit=1), open=True)
        assert created.status_code == 200, created.text

        async def buyer(i: int) -> None:
            status, body = await pool.post(
                "/api/rooms/storm/sales/s1/buy",
                {"quantity": 1, "request_id": "k"},
                bearer(f"u{i}", "storm"),
            )
            if status == 200:
                acked.append(body["order"])
                if len(acked) == 400:
                    store.kill()  # SIGKILL, mid-storm: scripts in flight die with it
            else:
                assert body["error"]["code"] == "unavailable", body
                refused.append(i)

        await asyncio.gather(*(buyer(i) for i in range(3000)))
    finally:
        await pool.close()
        await api.close()
    assert len(acked) >= 400 and refused, "the outage did not fall inside the storm"
    store.start()  # same port and directory: the append-only file is loaded
    client = aioredis.Redis.from_url(store.url)
    try:
        key = "lr:{room:storm}:sale:s1"
        log = [i.decode() for i in await client.lrange(key + ":log", 0, -1)]
        orders = {
            k.decode(): orjson.loads(v) for k, v in (await client.hgetall(key + ":orders")).items()
        }
        sale = await client.hgetall(key)
        events = [e for e in await outbox(client, "lr", "storm")]
    finally:
        await client.aclose()
    reserved = [e.event()["data"] for e in events if e.type == "order.reserved"]
    assert [d["order"] for d in reserved] == log  # same orders, in the same order
    assert set(log) == set(orders) and set(acked) <= set(log)
    assert {d["order"]: d["user"] for d in reserved} == {o: v["user"] for o, v in orders.items()}
    assert int(sale[b"reserved"]) == sum(d["quantity"] for d in reserved)
    assert [e.type for e in events].count("sale.opened") == 1
