"""Acceptance 4: a backend that pulls the outbox with its own consumer group, as docs/events.md
shows (docs/pull_outbox.py), sees the same events the webhook receiver got."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from liveroom.features.events.endpoints import new_secret
from tests.events.receiver import Receiver
from tests.events.shop import Hour, bag_and_packets, endpoints_env, flash_sale
from tests.events.test_webhooks import FAST_FEED, delivered_everything
from tests.redis_servers import no_redis, reachable

RECIPE = Path(__file__).resolve().parents[2] / "docs" / "pull_outbox.py"


def pull(redis_url: str, prefix: str, room: str, consumer: str) -> list[dict[str, Any]]:
    run = subprocess.run(
        [sys.executable, str(RECIPE), redis_url, prefix, room, "backend", consumer, "--until-idle"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


async def test_pull_recipe_sees_what_the_webhooks_delivered(
    start_server: Any, redis_url: str, prefix: str
) -> None:
    """The recipe's events, per room and in order, are exactly the webhook receiver's; a second
    run of the same group sees nothing again (everything was acknowledged)."""
    if not reachable(redis_url):
        no_redis(redis_url)
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
        hour = Hour()
        await flash_sale([node], "pull1", buyers=200, stock=80, hour=hour)
        await bag_and_packets([node, node], "pull2", hour)
        client = aioredis.Redis.from_url(redis_url)
        try:
            await delivered_everything(client, prefix, ["pull1", "pull2"], receiver)
        finally:
            await client.aclose()
        for room in ("pull1", "pull2"):
            pulled = pull(redis_url, prefix, room, "c1")
            pushed = {e["id"]: e for e in receiver.arrivals if e["room"] == room}
            assert pulled, room
            assert [e["id"] for e in pulled] == sorted(
                pushed, key=lambda i: [int(p) for p in i.partition(":")[2].split("-")]
            )
            assert all(pushed[e["id"]] == e for e in pulled)
            assert pull(redis_url, prefix, room, "c2") == []
        orders = {e["data"]["order"] for e in pull_types(receiver, "order.reserved")}
        assert orders == set(hour.orders)
    finally:
        await receiver.stop()


def pull_types(receiver: Receiver, etype: str) -> list[dict[str, Any]]:
    return list({e["id"]: e for e in receiver.arrivals if e["type"] == etype}.values())
