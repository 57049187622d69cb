"""Two liveroom processes on a three-master Redis Cluster: rooms on every shard fan out and sell."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import pytest

from tests.cluster.redis_cluster import LocalCluster
from tests.cluster.rooms import LIMITS, channel, comments, rooms_on_each_master
from tests.flashsale.conftest import Api, sale_body
from tests.liveclient import LiveClient

pytestmark = pytest.mark.cluster


PER_WRITER = 10


def cluster_settings(cluster: LocalCluster, prefix: str) -> dict[str, object]:
    return {
        "engine": "redis",
        "redis_cluster": True,
        "redis_url": cluster.url,
        "redis_prefix": prefix,
        **LIMITS,
    }


async def test_rooms_on_every_shard_fan_out_across_two_nodes(
    cluster: LocalCluster,
    start_servers: Any,
) -> None:
    """Each room's comments, written on both nodes, reach every viewer once and in order."""
    prefix = "lrc-" + uuid.uuid4().hex[:8]
    rooms = rooms_on_each_master(cluster, prefix)
    assert len(set(cluster.owner(channel(prefix, r)).port for r in rooms.values())) == 3
    nodes = start_servers(2, **cluster_settings(cluster, prefix))
    viewers: dict[str, list[LiveClient]] = {}
    writers: dict[str, list[LiveClient]] = {}
    for room in rooms.values():
        viewers[room] = [
            await LiveClient.connect(node.ws_url, room, f"v{i}-{node.port}")
            for node in nodes
            for i in range(2)
        ]
        writers[room] = [
            await LiveClient.connect(node.ws_url, room, f"w{node.port}") for node in nodes
        ]
    everyone = [c for room in rooms.values() for c in viewers[room] + writers[room]]
    try:
        await asyncio.gather(*(c.event("snapshot", timeout=10) for c in everyone))

        async def write(writer: LiveClient, tag: str) -> list[int]:
            offsets = []
            for n in range(PER_WRITER):
                answer = await writer.command("comment", text=f"{tag}{n}")
                assert answer["ok"] is True, answer
                offsets.append(answer["offset"])
            return offsets

        sent = await asyncio.gather(
            *(
                write(w, f"{room}-{i}-")
                for room in rooms.values()
                for i, w in enumerate(writers[room])
            )
        )
        by_room = {
            room: sorted(sent[2 * i] + sent[2 * i + 1]) for i, room in enumerate(rooms.values())
        }
        for room, acknowledged in by_room.items():
            assert acknowledged == list(range(1, 2 * PER_WRITER + 1)), (room, acknowledged)
            for viewer in viewers[room]:
                await viewer.wait(lambda v=viewer: len(comments(v)) >= 2 * PER_WRITER, timeout=10)
            reference = comments(viewers[room][0])
            assert [offset for offset, _ in reference] == acknowledged
            assert all(text.startswith(room + "-") for _, text in reference), "no cross-talk"
            for viewer in viewers[room][1:]:
                assert comments(viewer) == reference
    finally:
        await asyncio.gather(*(c.close() for c in everyone))


async def test_flash_sales_on_every_shard_never_oversell(
    cluster: LocalCluster,
    start_servers: Any,
) -> None:
    """Buyers on both nodes race for sales whose rooms sit on each master: exact stock, audit ok."""
    prefix = "lrc-" + uuid.uuid4().hex[:8]
    rooms = list(rooms_on_each_master(cluster, prefix).values())
    nodes = start_servers(2, **cluster_settings(cluster, prefix))
    apis = [Api(node.url) for node in nodes]
    try:
        for room in rooms:
            created = await apis[0].create(room, **sale_body(stock=15, limit=2), open=True)
            assert created.status_code == 200, created.text

        async def buyer(room: str, i: int) -> tuple[str, str, int, dict[str, Any]]:
            quantity = 1 + i % 2
            response = await apis[i % 2].buy(room, "s1", f"u{i % 20}", f"k{i}", quantity)
            assert response.status_code in (200, 409), response.text
            return room, f"u{i % 20}", quantity, response.json()

        results = await asyncio.gather(*(buyer(room, i) for room in rooms for i in range(40)))
        for room in rooms:
            granted: Counter[str] = Counter()
            codes: Counter[str] = Counter()
            for where, user, quantity, body in results:
                if where != room:
                    continue
                if "order" in body:
                    granted[user] += quantity
                    codes["ok"] += 1
                else:
                    codes[body["error"]["code"]] += 1
            assert set(codes) <= {"ok", "sold_out", "limit_reached"}, codes
            assert sum(granted.values()) == 15, (room, codes)
            assert max(granted.values()) <= 2
            report = await apis[1].audit(room, "s1")
            assert report["ok"], report
            assert (report["total"], report["stock"], report["reserved"]) == (15, 0, 15)
    finally:
        for api in apis:
            await api.close()
