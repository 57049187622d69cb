"""Acceptance 2: 1,000 claimants race for 100 coupons over two nodes, on one Redis and on the
3-master Redis Cluster; then orders use them, some twice at once, some with someone else's
coupon; some orders are cancelled, some expire, some are paid, and returned coupons serve
again. Checked from the ledger and the outbox: every coupon is used at most once at a time and
returned at most once per order, and the discounts add up to the paid orders'."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import orjson

from tests.flashsale.conftest import BACKEND, KeepAlive, bearer, sale_body
from tests.servers import ServerProcess
from tests.timeouts import eventually

ROOM = "coupon-race"
CLAIMANTS = 1000
COUPONS = 100
PRICE = 1990
#: 10% off, at most 500 fen: 199, 398 or 500 off for 1, 2 or 3 units
TERMS = {"kind": "percent", "value": 10, "cap": 500, "count": COUPONS, "valid_s": 3600}


async def test_a_thousand_claimants_a_hundred_coupons_used_and_returned_once(
    two_nodes: tuple[list[ServerProcess], Any],
) -> None:
    """The claim race, double uses, foreign coupons, cancels, expiries, payments, reuse."""
    nodes, (client, prefix) = two_nodes
    pools = [await KeepAlive(node.port, 16).open() for node in nodes]
    base = f"/api/rooms/{ROOM}"
    try:
        status, body = await pools[0].post(f"{base}/coupons", TERMS, BACKEND)
        assert status == 200, body
        batch = body["batch"]["id"]
        sale = sale_body(stock=10_000, limit=6, payment_s=2.0)
        status, body = await pools[1].post(f"{base}/sales", {**sale, "open": True}, BACKEND)
        assert status == 200, body

        # -- the claim race: each claimant twice, once on each node
        async def claim(i: int, node: int) -> tuple[str, str | None]:
            user = f"u{i}"
            status, body = await pools[node].post(
                f"{base}/coupons/{batch}/claim", {}, bearer(user, ROOM)
            )
            if status == 200:
                return "ok", body["coupon"]["id"]
            return body["error"]["code"], body["error"].get("coupon", {}).get("id")

        answers = await asyncio.gather(
            *(claim(i, n) for i in range(CLAIMANTS) for n in ((i % 2), 1 - (i % 2)))
        )
        codes = Counter(code for code, _ in answers)
        assert codes["ok"] == COUPONS, codes
        assert set(codes) <= {"ok", "coupon_gone", "already_claimed"}, codes
        holders: dict[str, str] = {}
        for i in range(CLAIMANTS):
            mine = {c for code, c in answers[2 * i : 2 * i + 2] if c is not None}
            assert len(mine) <= 1, (i, mine)  # the same coupon on both nodes, or none
            if mine:
                holders[f"u{i}"] = mine.pop()
        assert len(holders) == COUPONS and len(set(holders.values())) == COUPONS

        # -- first orders: every holder buys twice at once with its coupon, once per node;
        #    ten outsiders try a holder's coupon
        async def buy(user: str, coupon: str, request: str, node: int, qty: int) -> Any:
            return await pools[node].post(
                f"{base}/sales/s1/buy",
                {"quantity": qty, "request_id": request, "coupon": coupon},
                bearer(user, ROOM),
            )

        users = sorted(holders)
        first = await asyncio.gather(
            *(
                buy(user, holders[user], f"a{n}", n, 1 + i % 3)
                for i, user in enumerate(users)
                for n in (0, 1)
            )
        )
        thieves = await asyncio.gather(
            *(buy(f"x{i}", holders[users[i]], "t", i % 2, 1) for i in range(10))
        )
        assert {body["error"]["code"] for _, body in thieves} == {"not_yours"}
        orders: dict[str, dict[str, Any]] = {}
        for i, user in enumerate(users):
            pair = first[2 * i : 2 * i + 2]
            won = [body for status, body in pair if status == 200]
            lost = [body["error"]["code"] for status, body in pair if status != 200]
            assert len(won) == 1 and lost == ["coupon_used"], (user, pair)
            orders[won[0]["order"]] = {"user": user, "coupon": holders[user]}
            qty = 1 + i % 3
            assert won[0]["discount"] == min(PRICE * qty // 10, 500)
            assert won[0]["total"] == PRICE * qty - won[0]["discount"]

        # -- settle: 30 cancelled, 40 paid, 30 left to expire
        ids = sorted(orders)
        cancelled, paid, expiring = ids[:30], ids[30:70], ids[70:]
        for n, order in enumerate(cancelled):
            status, body = await pools[n % 2].post(
                f"{base}/sales/s1/orders/{order}/cancel", {}, bearer(orders[order]["user"], ROOM)
            )
            assert status == 200, body
        for n, order in enumerate(paid):
            status, body = await pools[n % 2].post(
                f"{base}/sales/s1/orders/{order}/confirm", {}, BACKEND
            )
            assert status == 200 and body["order"]["status"] == "paid", body

        async def expired() -> bool:
            found = await order_records(client, prefix)
            return all(found[o]["status"] == "expired" for o in expiring)

        await eventually(expired, timeout=15)

        # -- returned coupons serve again: 20 of them, paid this time
        again = [orders[o]["user"] for o in cancelled[:10] + expiring[:10]]
        second = await asyncio.gather(
            *(buy(user, holders[user], "b", i % 2, 2) for i, user in enumerate(again))
        )
        for status, body in second:
            assert status == 200 and body["discount"] == 398, body
            status, body = await pools[0].post(
                f"{base}/sales/s1/orders/{body['order']}/confirm", {}, BACKEND
            )
            assert status == 200, body

        await check_ledger_and_outbox(client, prefix, holders)
        status, body = await pools[0].post(f"{base}/coupons/{batch}/claim", {}, bearer("z", ROOM))
        assert body["error"]["code"] == "coupon_gone"
    finally:
        for pool in pools:
            await pool.close()
        await client.aclose()


async def order_records(client: Any, prefix: str) -> dict[str, dict[str, Any]]:
    raw = await client.hgetall(f"{prefix}:{{room:{ROOM}}}:sale:s1:orders")
    return {k.decode(): orjson.loads(v) for k, v in raw.items()}


async def check_ledger_and_outbox(client: Any, prefix: str, holders: dict[str, str]) -> None:
    """The invariants of acceptance 2, from the orders and the room's outbox."""
    orders = await order_records(client, prefix)
    rows = await client.xrange(f"{prefix}:{{room:{ROOM}}}:outbox", "-", "+")
    events = [
        (f[b"type"].decode(), orjson.loads(f[b"data"]))
        for _, f in rows
        if f[b"type"].startswith(b"coupon.")
    ]
    used = [data for kind, data in events if kind == "coupon.used"]
    returned = [data for kind, data in events if kind == "coupon.returned"]
    claimed = [data for kind, data in events if kind == "coupon.claimed"]
    assert len(claimed) == COUPONS and sorted(c["coupon"] for c in claimed) == sorted(
        holders.values()
    )
    # each use is one order's, each order returns its coupon at most once
    assert len({u["order"] for u in used}) == len(used)
    assert len({r["order"] for r in returned}) == len(returned)
    assert {r["order"] for r in returned} <= {u["order"] for u in used}
    # per coupon: used, returned, used, ... never used twice without a return between
    for coupon in holders.values():
        seq = [
            kind for kind, data in events if data["coupon"] == coupon and kind != "coupon.claimed"
        ]
        assert seq == ["coupon.used", "coupon.returned"] * (len(seq) // 2) + (
            ["coupon.used"] if len(seq) % 2 else []
        ), (coupon, seq)
    # the ledger agrees: returned exactly the cancelled and expired orders with a coupon
    released = {
        o for o, r in orders.items() if r["coupon"] and r["status"] in ("cancelled", "expired")
    }
    assert {r["order"] for r in returned} == released
    live = [r for r in orders.values() if r["coupon"] and r["status"] in ("reserved", "paid")]
    assert len({r["coupon"] for r in live}) == len(live)  # no coupon on two live orders
    paid_discounts = sum(r["discount"] for r in orders.values() if r["status"] == "paid")
    by_order = {u["order"]: u["discount"] for u in used}
    assert all(by_order[o] == orders[o]["discount"] for o in by_order)
    assert (
        sum(u["discount"] for u in used) - sum(by_order[r["order"]] for r in returned)
        == paid_discounts
    )
    assert paid_discounts == sum(
        min(PRICE * r["quantity"] // 10, 500) for r in orders.values() if r["status"] == "paid"
    )
    assert Counter(r["status"] for r in orders.values()) == {
        "paid": 60, "cancelled": 30, "expired": 30
    }  # fmt: skip
