"""Acceptance 1: two nodes deliver every business event of a busy hour to a receiver that fails
30% of requests and hangs on some; at least once, signed, in order per room, ids stable, and
the orders heard equal the sale's ledger."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from liveroom.features.events.endpoints import new_secret
from tests.events.checks import (
    first_arrivals,
    first_inversion,
    in_room_order,
    orders_heard,
    outbox,
    same_event_per_id,
)
from tests.events.receiver import Receiver
from tests.events.shop import Hour, bag_and_packets, endpoints_env, flash_sale
from tests.redis_servers import no_redis, reachable
from tests.timeouts import eventually

#: quick retries and a short request timeout, so a test hour passes in seconds
FAST_FEED: dict[str, object] = {
    "feed_timeout_s": 0.5,
    "feed_backoff_s": 0.02,
    "feed_backoff_max_s": 0.3,
    "feed_attempts": 60,
    "feed_poll_s": 0.05,
    "feed_claim_s": 2.0,
    "feed_batch": 50,
    "max_conns_per_ip": 0,
    "admit_address_rate": 0,
}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    secret = new_secret()
    recv = await Receiver(secret, fail=0.3, hang_every=6, hang_s=0.8, seed=20).start()
    recv.secret = secret  # type: ignore[attr-defined]
    yield recv
    await recv.stop()


async def delivered_everything(
    client: aioredis.Redis, prefix: str, rooms: list[str], recv: Receiver
) -> list[str]:
    """Wait until the receiver holds every event of every room's outbox; their ids."""

    async def all_there() -> list[str] | None:
        ids = [event_id for room in rooms for event_id in await _ids(client, prefix, room)]
        return ids if set(ids) <= recv.ids() else None

    return await eventually(all_there, timeout=90, interval=0.2)


async def _ids(client: aioredis.Redis, prefix: str, room: str) -> list[str]:
    return [e.event()["id"] for e in await outbox(client, prefix, room)]


async def ledger(client: aioredis.Redis, prefix: str, room: str) -> dict[str, str]:
    raw = await client.hgetall(f"{prefix}:{{room:{room}}}:sale:s1:orders")
    import orjson

    return {k.decode(): orjson.loads(v)["status"] for k, v in raw.items()}


async def test_two_nodes_deliver_a_busy_hour_to_a_flaky_receiver(
    start_server: Any, redis_url: str, prefix: str, receiver: Receiver
) -> None:
    """1,000 buyers, a draw and red packets on two nodes; every event arrives, verified,
    in room order, duplicates identical; orders heard == the ledger."""
    if not reachable(redis_url):
        no_redis(redis_url)
    settings = {
        "engine": "redis",
        "redis_url": redis_url,
        "redis_prefix": prefix,
        "feed_endpoints": endpoints_env(receiver.url, receiver.secret),  # type: ignore[attr-defined]
        **FAST_FEED,
    }
    nodes = [start_server(**settings), start_server(**settings)]
    hour = Hour()
    await flash_sale(nodes, "sale1", buyers=1000, stock=300, hour=hour)
    await bag_and_packets(nodes, "gifts1", hour)
    client = aioredis.Redis.from_url(redis_url)
    try:
        ids = await delivered_everything(client, prefix, ["sale1", "gifts1"], receiver)
        # what the state shows, the outbox holds: every order, payment, cancellation
        types = Counter(e.type for e in await outbox(client, prefix, "sale1"))
        assert types["order.reserved"] == len(hour.orders) == 300
        assert types["order.paid"] == len(hour.paid) and types["order.cancelled"] == len(
            hour.cancelled
        )
        assert types["sale.opened"] == types["sale.sold_out"] == types["sale.closed"] == 1
        gifts = Counter(e.type for e in await outbox(client, prefix, "gifts1"))
        assert gifts == {"bag.drawn": 1, "packet.grabbed": 12, "packet.closed": 1}
        # the receiver: signed, at least once, duplicates the same event, room order
        assert receiver.bad_signatures == 0
        assert receiver.hung > 0, ("the receiver never hung", receiver.requests)
        assert 0.15 < receiver.failed / receiver.requests < 0.45, (
            receiver.failed,
            receiver.requests,
        )
        assert receiver.batches > 0, "a lagging receiver got no batch"
        assert set(ids) == receiver.ids()
        assert len(receiver.arrivals) > len(ids), "no duplicates: retries never re-sent"
        assert same_event_per_id(receiver.arrivals)
        for room, order in first_arrivals(receiver.arrivals).items():
            assert in_room_order(order), (room, first_inversion(order))
        # the receiver's orders are the sale's ledger, status for status
        assert orders_heard(receiver.arrivals, "sale1", "s1") == await ledger(
            client, prefix, "sale1"
        )
        drawn = next(e for e in receiver.arrivals if e["type"] == "bag.drawn")
        assert [w["id"] for w in drawn["data"]["winners"]] == hour.winners
    finally:
        await client.aclose()


__all__ = ["FAST_FEED", "delivered_everything", "ledger", "uuid"]
