"""A master dies and its replica takes over: fan-out resumes with no lost event, no oversell."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.redis_cluster import LocalCluster
from tests.cluster.rooms import LIMITS, assert_gapless, channel, comments, post
from tests.flashsale.conftest import Api, sale_body
from tests.liveclient import LiveClient
from tests.timeouts import eventually

pytestmark = pytest.mark.cluster


ROOM = "fo1"
STOCK = 12


@pytest.fixture
def own_cluster() -> Iterator[LocalCluster]:
    """A cluster of this test's own: it loses a master."""
    local = LocalCluster(masters=3, replicas=1).start()
    try:
        yield local
    finally:
        local.close()


async def buy_until_answered(api: Api, user: str, key: str) -> dict[str, Any]:
    """One buy, asked again (same request id) while the shard answers ``unavailable``."""

    async def attempt() -> dict[str, Any] | None:
        response = await api.buy(ROOM, "s1", user, key, 1)
        body = dict(response.json())
        if response.status_code == 503 or body.get("error", {}).get("code") == "unavailable":
            return None
        assert response.status_code in (200, 409), response.text
        return body

    return await eventually(attempt, timeout=30, interval=0.05)


async def test_master_failover_loses_no_acknowledged_event(
    own_cluster: LocalCluster, start_servers: Any
) -> None:
    """Kill the room's master and promote its replica: every acked comment and order survives."""
    prefix = "lrc-" + uuid.uuid4().hex[:8]
    settings = {
        "engine": "redis",
        "redis_cluster": True,
        "redis_url": own_cluster.url,
        "redis_prefix": prefix,
        "pulse_s": 0.2,
        **LIMITS,
    }
    nodes = start_servers(2, **settings)
    apis = [Api(node.url) for node in nodes]
    viewers = [
        await LiveClient.connect(node.ws_url, ROOM, f"v{i}-{node.port}")
        for node in nodes
        for i in range(2)
    ]
    writers = [await LiveClient.connect(node.ws_url, ROOM, f"w{node.port}") for node in nodes]
    try:
        await asyncio.gather(*(c.event("snapshot", timeout=10) for c in viewers + writers))
        created = await apis[0].create(ROOM, **sale_body(stock=STOCK, limit=1), open=True)
        assert created.status_code == 200, created.text

        acked = [await post(w, f"before-{n}-{i}") for i in range(5) for n, w in enumerate(writers)]
        orders = [await buy_until_answered(apis[i % 2], f"b{i}", "k") for i in range(5)]
        assert all("order" in o for o in orders), orders

        master = own_cluster.owner(channel(prefix, ROOM))
        replica = own_cluster.wait_replicated(master)
        own_cluster.kill_and_promote(master, replica)
        assert own_cluster.owner(channel(prefix, ROOM)).port == replica.port

        acked += [await post(w, f"after-{n}-{i}") for i in range(5) for n, w in enumerate(writers)]
        orders += [await buy_until_answered(apis[i % 2], f"a{i}", "k") for i in range(10)]

        offsets = sorted(a["offset"] for a in acked)
        assert len(set(offsets)) == len(offsets)
        for viewer in viewers:
            await viewer.wait(
                lambda v=viewer: {o for o, _ in comments(v)} >= set(offsets), timeout=20
            )
            assert_gapless(viewer)
        reference = comments(viewers[0])
        for viewer in viewers[1:]:
            assert comments(viewer) == reference, "every viewer sees one and the same sequence"

        granted = [o["order"] for o in orders if "order" in o]
        assert len(granted) == STOCK, orders
        assert {o["error"]["code"] for o in orders if "order" not in o} <= {"sold_out"}
        report = await apis[1].audit(ROOM, "s1")
        assert report["ok"], report
        assert (report["stock"], report["reserved"], report["orders"]) == (0, STOCK, STOCK)
        for order in granted:
            seen = await apis[0].get(f"/api/rooms/{ROOM}/sales/s1/orders/{order}")
            assert seen.status_code == 200, f"acknowledged order {order} lost: {seen.text}"
    finally:
        await asyncio.gather(*(c.close() for c in viewers + writers))
        for api in apis:
            await api.close()
