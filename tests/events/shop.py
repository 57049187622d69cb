"""A shop's busy hour on a set of nodes, for the feed's acceptance tests: a flash sale with many
buyers (some pay, some cancel), a lucky-bag draw, and red packets grabbed and closed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson

from tests.flashsale.conftest import BACKEND, Api, KeepAlive, bearer, sale_body
from tests.servers import ServerProcess


@dataclass
class Hour:
    orders: list[str] = field(default_factory=list)
    paid: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    winners: list[str] = field(default_factory=list)
    grabs: int = 0


async def flash_sale(
    nodes: list[ServerProcess], room: str, buyers: int, stock: int, hour: Hour
) -> None:
    """``buyers`` buy one unit each over HTTP, spread over the nodes; a third of the orders
    are paid and a sixth cancelled; then the sale closes."""
    apis = [Api(node.url) for node in nodes]
    pools = [await KeepAlive(node.port, 16).open() for node in nodes]
    try:
        created = await apis[0].create(room, **sale_body(stock=stock, limit=1), open=True)
        assert created.status_code == 200, created.text

        async def buy(i: int) -> str | None:
            status, body = await pools[i % len(pools)].post(
                f"/api/rooms/{room}/sales/s1/buy",
                {"quantity": 1, "request_id": "k"},
                bearer(f"b{i}", room),
            )
            assert status in (200, 409), body
            return str(body["order"]) if status == 200 else None

        got = await asyncio.gather(*(buy(i) for i in range(buyers)))
        hour.orders = [order for order in got if order]
        for n, order in enumerate(hour.orders[: len(hour.orders) // 2]):
            api = apis[n % len(apis)]
            path = f"/api/rooms/{room}/sales/s1/orders/{order}"
            if n % 3 == 2:
                reply = await api.post(path + "/cancel")
                hour.cancelled.append(order)
            else:
                reply = await api.post(path + "/confirm")
                hour.paid.append(order)
            assert reply.status_code == 200, reply.text
        closed = await apis[-1].post(f"/api/rooms/{room}/sales/s1/close")
        assert closed.status_code == 200, closed.text
    finally:
        for pool in pools:
            await pool.close()
        for api in apis:
            await api.close()


async def bag_and_packets(nodes: list[ServerProcess], room: str, hour: Hour) -> None:
    """A lucky bag with 20 entrants drawn at once; a red packet of 10 grabbed by 15 viewers on
    both nodes; a second one closed with packets left."""
    apis = [Api(node.url) for node in nodes]
    try:
        made = await apis[0].post(
            f"/api/rooms/{room}/bags",
            prize="Tea set",
            value_fen=29900,
            winners=3,
            duration_s=600,
            open=True,
        )
        assert made.status_code == 200, made.text
        bag = made.json()["bag"]["id"]
        for i in range(20):
            joined = await apis[i % 2].post(f"/api/rooms/{room}/bags/{bag}/join", user=f"j{i}")
            assert joined.status_code == 200, joined.text
        drawn = await apis[1].post(f"/api/rooms/{room}/bags/{bag}/draw")
        assert drawn.status_code == 200, drawn.text
        hour.winners = [w["id"] for w in drawn.json()["bag"]["winner_list"]]

        packets = []
        for total, count in ((1000, 10), (500, 5)):
            made = await apis[0].post(f"/api/rooms/{room}/packets", total=total, count=count)
            assert made.status_code == 200, made.text
            packets.append(made.json()["packet"]["id"])
        for i in range(15):
            grab = await apis[i % 2].http.post(
                f"/api/rooms/{room}/packets/{packets[0]}/grab", headers=bearer(f"g{i}", room)
            )
            assert grab.status_code in (200, 409), grab.text
            hour.grabs += grab.status_code == 200 and bool(grab.json().get("ok", True))
        for i in range(2):
            grab = await apis[i].http.post(
                f"/api/rooms/{room}/packets/{packets[1]}/grab", headers=bearer(f"q{i}", room)
            )
            assert grab.status_code == 200, grab.text
        closed = await apis[1].post(f"/api/rooms/{room}/packets/{packets[1]}/close")
        assert closed.status_code == 200, closed.text
    finally:
        for api in apis:
            await api.close()


def endpoints_env(url: str, secret: str, **more: Any) -> str:
    return orjson.dumps([{"url": url, "secret": secret, **more}]).decode()


__all__ = ["BACKEND", "Hour", "bag_and_packets", "endpoints_env", "flash_sale"]
