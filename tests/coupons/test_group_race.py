"""Coupons on group-buy orders, raced over two nodes on one Redis and on the 3-master Redis
Cluster: 60 claimants go for 40 coupons; holders start and match into groups of 3 with their
coupons, some naming the same coupon in two places at once, some not holding one, some with
someone else's; formed groups' orders are cancelled, paid or left to expire, and unfilled
groups fail. Checked from the orders and the room's outbox: every coupon is used at most once
at a time and only by an order, returned at most once per order, a failed group used none, and
the discounts add up to the paid orders'. The deal's and the batch's audits hold."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import orjson

from tests.flashsale.conftest import BACKEND, KeepAlive, bearer
from tests.groupbuy.conftest import deal_body
from tests.servers import ServerProcess
from tests.timeouts import eventually

ROOM = "coupon-group-race"
CLAIMANTS = 60
COUPONS = 40
PRICE = 990
#: 20% off, at most 300 fen: 198 off one unit, 300 off two
TERMS = {"kind": "percent", "value": 20, "cap": 300, "count": COUPONS, "valid_s": 3600}


async def test_coupons_on_group_orders_are_used_and_returned_once(
    two_nodes: tuple[list[ServerProcess], Any],
) -> None:
    """Claims, places with and without coupons, double-named coupons, foreign coupons,
    fills, failures, cancels, payments, expiries: the coupon ledger holds."""
    nodes, (client, prefix) = two_nodes
    pools = [await KeepAlive(node.port, 16).open() for node in nodes]
    reads = [httpx.AsyncClient(base_url=node.url, headers=BACKEND) for node in nodes]
    base = f"/api/rooms/{ROOM}"
    deal = f"{base}/deals/d1"
    try:
        status, body = await pools[0].post(f"{base}/coupons", TERMS, BACKEND)
        assert status == 200, body
        batch = body["batch"]["id"]
        terms = deal_body(size=3, stock=300, limit=2, fill_s=1.5, payment_s=2.0)
        status, body = await pools[1].post(f"{base}/deals", {**terms, "open": True}, BACKEND)
        assert status == 200, body

        # -- the claim race, each claimant on one node
        async def claim(i: int) -> tuple[str, str | None]:
            status, body = await pools[i % 2].post(
                f"{base}/coupons/{batch}/claim", {}, bearer(f"u{i}", ROOM)
            )
            return (f"u{i}", body["coupon"]["id"]) if status == 200 else (f"u{i}", None)

        holders = {u: c for u, c in await asyncio.gather(*map(claim, range(CLAIMANTS))) if c}
        assert len(holders) == COUPONS

        async def place(user: str, request: str, node: int, path: str, **more: Any) -> Any:
            body = {"request_id": request, **more}
            return await pools[node].post(f"{deal}/{path}", body, bearer(user, ROOM))

        # -- wave 1: 15 holders start groups with their coupons (the last five for 2 units)
        users = sorted(holders)
        starts = await asyncio.gather(
            *(
                place(u, "a", i % 2, "groups", coupon=holders[u], quantity=1 + i // 10)
                for i, u in enumerate(users[:15])
            )
        )
        assert all(status == 200 for status, _ in starts), starts

        # -- wave 2, all at once: the other holders match with their coupons (starting a
        #    group when none is open), ten holders name their coupon in a second place,
        #    twenty viewers without one match, five name someone else's coupon
        async def match_or_start(user: str, request: str, node: int, **more: Any) -> Any:
            status, body = await place(user, request, node, "match", **more)
            if status != 200 and body["error"]["code"] == "no_open_group":
                status, body = await place(user, request + "s", node, "groups", **more)
            return status, body

        wave = [match_or_start(u, "a", n % 2, coupon=holders[u]) for n, u in enumerate(users[15:])]
        again = users[:10]
        wave += [match_or_start(u, "b", 1 - n % 2, coupon=holders[u]) for n, u in enumerate(again)]
        wave += [match_or_start(f"n{n}", "a", n % 2) for n in range(20)]
        thieves = [place(f"x{n}", "t", n % 2, "groups", coupon=holders[users[n]]) for n in range(5)]
        answers = await asyncio.gather(*wave, *thieves)
        assert {body["error"]["code"] for _, body in answers[-5:]} == {"not_yours"}
        for n, (status, body) in enumerate(answers[:-5]):
            # a second place is refused when the coupon's first group has formed already
            assert status == 200 or (25 <= n < 35 and body["error"]["code"] == "coupon_used"), body
        # the waves may leave every group full (how many second places are taken depends on
        # the race): one more group that nobody joins is sure to fail
        status, body = await place("lonely", "a", 0, "groups")
        assert status == 200, body

        # -- settle what formed: a third cancelled, a third paid, a third left to expire
        formed = sorted(await order_records(client, prefix), key=lambda o: int(o[4:]))
        assert formed, "no group formed"
        for n, order in enumerate(formed):
            if n % 3 == 2:
                continue
            action = "cancel" if n % 3 == 0 else "confirm"
            status, body = await pools[n % 2].post(f"{deal}/orders/{order}/{action}", {}, BACKEND)
            # a late settle finds an order that expired first: conflict, never a double move
            assert status == 200 or body["error"]["code"] == "conflict", body

        async def settled() -> bool:
            report = (await reads[0].get(f"{deal}/audit")).json()
            return bool(report["groups"]["open"] == 0 and report["reserved"] == 0)

        await eventually(settled, timeout=15)
        report = (await reads[1].get(f"{deal}/audit")).json()
        assert report["ok"], report
        assert report["groups"]["failed"] > 0 and report["groups"]["formed"] > 0, report
        coupons = (await reads[0].get(f"{base}/coupons/{batch}")).json()
        assert coupons["audit"]["ok"], coupons["audit"]
        await check_ledger_and_outbox(client, prefix, holders)
    finally:
        for pool in pools:
            await pool.close()
        for read in reads:
            await read.aclose()
        await client.aclose()


async def order_records(client: Any, prefix: str) -> dict[str, dict[str, Any]]:
    raw = await client.hgetall(f"{prefix}:{{room:{ROOM}}}:deal:d1:orders")
    return {k.decode(): orjson.loads(v) for k, v in raw.items()}


async def check_ledger_and_outbox(client: Any, prefix: str, holders: dict[str, str]) -> None:
    """Used at most once at a time, by an order; returned at most once per order, exactly
    the released orders' coupons; discounts used minus returned = the paid orders'."""
    orders = await order_records(client, prefix)
    rows = await client.xrange(f"{prefix}:{{room:{ROOM}}}:outbox", "-", "+")
    events = [(f[b"type"].decode(), orjson.loads(f[b"data"])) for _, f in rows]
    used = [data for kind, data in events if kind == "coupon.used"]
    returned = [data for kind, data in events if kind == "coupon.returned"]
    assert used and returned
    assert {u["order"] for u in used} <= set(orders)  # only orders use coupons
    assert len({u["order"] for u in used}) == len(used)
    assert len({r["order"] for r in returned}) == len(returned)
    for coupon in holders.values():
        seq = [
            kind
            for kind, data in events
            if kind in ("coupon.used", "coupon.returned") and data["coupon"] == coupon
        ]
        assert seq == ["coupon.used", "coupon.returned"] * (len(seq) // 2) + (
            ["coupon.used"] if len(seq) % 2 else []
        ), (coupon, seq)
    released = {
        o for o, r in orders.items() if r["coupon"] and r["status"] in ("cancelled", "expired")
    }
    assert {r["order"] for r in returned} == released
    live = [r for r in orders.values() if r["coupon"] and r["status"] in ("reserved", "paid")]
    assert len({r["coupon"] for r in live}) == len(live)
    for r in orders.values():  # a refused coupon took nothing off, a used one its terms
        expected = min(PRICE * r["quantity"] * 20 // 100, 300) if r["coupon"] else 0
        assert r["discount"] == expected and (not r["coupon_refused"] or not r["coupon"]), r
    by_order = {u["order"]: u["discount"] for u in used}
    assert all(by_order[o] == orders[o]["discount"] for o in by_order)
    paid = sum(r["discount"] for r in orders.values() if r["status"] == "paid")
    assert sum(by_order.values()) - sum(by_order[r["order"]] for r in returned) == paid
    assert Counter(r["status"] for r in orders.values())["paid"] > 0
    # coupon.used comes before its order's order.reserved, in the same step
    reserved = [data["order"] for kind, data in events if kind == "order.reserved"]
    assert set(reserved) == set(orders)
