"""Acceptance 2: the node delivering a room is SIGKILLed mid-delivery and Redis restarts from
its append-only file (``appendfsync always``); the other node takes the lanes over (after the
lease, ``XAUTOCLAIM``) and nothing the state shows goes undelivered."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import redis.asyncio as aioredis

from liveroom.features.events.endpoints import new_secret
from tests.events.checks import (
    first_arrivals,
    first_inversion,
    in_room_order,
    orders_heard,
    same_event_per_id,
)
from tests.events.receiver import Receiver
from tests.events.shop import Hour, bag_and_packets, endpoints_env, flash_sale
from tests.events.test_atomic import AOF
from tests.events.test_webhooks import FAST_FEED, delivered_everything, ledger
from tests.flashsale.conftest import BACKEND, sale_body
from tests.redis_servers import RedisProcess
from tests.servers import ServerProcess
from tests.timeouts import eventually

ROOMS = ["take1", "take2"]


async def lanes(node: ServerProcess) -> int:
    async with httpx.AsyncClient(base_url=node.url, timeout=5) as http:
        reply = await http.get(f"/api/rooms/{ROOMS[0]}/feed", headers=BACKEND)
    assert reply.status_code == 200, reply.text
    return int(reply.json()["lanes"])


async def test_node_killed_mid_delivery_and_redis_restarted_loses_nothing(
    start_server: Any, private_redis: list[RedisProcess]
) -> None:
    """Two nodes, a flaky receiver; it stops taking anything; the lane holder is SIGKILLed
    with events read and unacknowledged; Redis is SIGKILLed and restarted; the survivor
    delivers every event of both outboxes, the ledger's orders among them."""
    store = RedisProcess(*AOF).start()
    private_redis.append(store)
    secret = new_secret()
    receiver = await Receiver(secret, fail=0.3, hang_every=8, hang_s=0.8, seed=2).start()
    try:
        settings = {
            "engine": "redis",
            "redis_url": store.url,
            "feed_endpoints": endpoints_env(receiver.url, secret),
            **FAST_FEED,
            "feed_batch": 5,
            # the receiver refuses everything for as long as the sale, the bags and the kills
            # take: with FAST_FEED's 60 attempts, 0.3 s apart at most, a batch held all that
            # time would go to dead letters on a slow machine, and never arrive
            "feed_attempts": 1_000_000,
        }
        nodes = [start_server(**settings), start_server(**settings)]
        hour = Hour()
        sale = asyncio.create_task(flash_sale(nodes, ROOMS[0], 1000, 300, hour))
        await eventually(lambda: len(receiver.arrivals) >= 30, timeout=30)
        receiver.open = False  # from here every request fails: the holders keep events pending
        await sale
        await bag_and_packets(nodes, ROOMS[1], hour)

        async def both_lanes_held() -> list[int] | None:
            held = [await lanes(node) for node in nodes]
            return held if sum(held) == 2 else None

        held = await eventually(both_lanes_held, timeout=10)
        victim = 0 if held[0] else 1
        survivor = nodes[1 - victim]
        nodes[victim].kill()  # SIGKILL: its lanes' events stay read and unacknowledged
        store.kill()
        store.start()
        receiver.open = True
        client = aioredis.Redis.from_url(store.url)
        try:
            ids = await delivered_everything(client, "lr", ROOMS, receiver)
            assert await lanes(survivor) == 2
            assert set(ids) == receiver.ids()
            assert orders_heard(receiver.arrivals, ROOMS[0], "s1") == await ledger(
                client, "lr", ROOMS[0]
            )
            assert len(hour.orders) == 300
        finally:
            await client.aclose()
        assert receiver.bad_signatures == 0 and same_event_per_id(receiver.arrivals)
        for room, order in first_arrivals(receiver.arrivals).items():
            assert in_room_order(order), (room, first_inversion(order))
    finally:
        await receiver.stop()


async def test_a_node_stopping_hands_its_lanes_over_at_once(
    start_server: Any, redis_url: str, prefix: str
) -> None:
    """A lane's holder shut down cleanly gives the lease back: the other node delivers the
    next events well before the 30 s lease would have run out."""
    secret = new_secret()
    receiver = await Receiver(secret).start()
    try:
        settings = {
            "engine": "redis",
            "redis_url": redis_url,
            "redis_prefix": prefix,
            "feed_endpoints": endpoints_env(receiver.url, secret),
            **FAST_FEED,
            "feed_claim_s": 30.0,
        }
        nodes = [start_server(**settings), start_server(**settings)]
        async with httpx.AsyncClient(timeout=10, headers=BACKEND) as http:
            made = await http.post(
                f"{nodes[0].url}/api/rooms/{ROOMS[0]}/sales", json=sale_body(open=True)
            )
            assert made.status_code == 200
            await eventually(lambda: receiver.ids(), timeout=10)
            held = [await lanes(node) for node in nodes]
            assert sorted(held) == [0, 1], held
            holder, other = (nodes[0], nodes[1]) if held[0] else (nodes[1], nodes[0])
            holder.stop()  # SIGTERM: a clean shutdown
            closed = await http.post(f"{other.url}/api/rooms/{ROOMS[0]}/sales/s1/close")
            assert closed.status_code == 200
            await eventually(
                lambda: any(e["type"] == "sale.closed" for e in receiver.arrivals), timeout=8
            )
        assert await lanes(other) == 1
    finally:
        await receiver.stop()


async def test_a_dropped_room_stops_its_lanes(
    start_server: Any, redis_url: str, prefix: str
) -> None:
    """Deleting a room's outbox and its registry member ends its lanes; nothing recreates it."""
    secret = new_secret()
    receiver = await Receiver(secret).start()
    try:
        node = start_server(
            engine="redis",
            redis_url=redis_url,
            redis_prefix=prefix,
            feed_endpoints=endpoints_env(receiver.url, secret),
            **FAST_FEED,
        )
        async with httpx.AsyncClient(timeout=10, headers=BACKEND) as http:
            made = await http.post(f"{node.url}/api/rooms/gone/sales", json=sale_body(open=True))
            assert made.status_code == 200
            await eventually(lambda: receiver.ids(), timeout=10)
            client = aioredis.Redis.from_url(redis_url)
            try:
                stream = f"{prefix}:{{room:gone}}:outbox"
                await client.delete(stream)
                await client.srem(f"{prefix}:feed:rooms", "gone")

                async def no_lanes() -> bool:
                    reply = await http.get(f"{node.url}/api/rooms/gone/feed")
                    return reply.json()["lanes"] == 0

                await eventually(no_lanes, timeout=10)
                assert await client.exists(stream) == 0
            finally:
                await client.aclose()
    finally:
        await receiver.stop()
