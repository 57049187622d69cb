"""A room's slot moves to another master while viewers watch: they miss nothing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.cluster.redis_cluster import LocalCluster
from tests.cluster.rooms import LIMITS, assert_gapless, channel, comments, post
from tests.liveclient import LiveClient

pytestmark = pytest.mark.cluster


ROOM = "moving"


async def test_slot_migration_moves_the_subscription(
    cluster: LocalCluster, start_server: Any
) -> None:
    """Migrate the room's slot mid-stream: the node follows it and fills the gap from history."""
    prefix = "lrc-" + uuid.uuid4().hex[:8]
    node = start_server(
        engine="redis", redis_cluster=True, redis_url=cluster.url, redis_prefix=prefix, **LIMITS
    )
    viewers = [await LiveClient.connect(node.ws_url, ROOM, f"v{i}") for i in range(2)]
    writer = await LiveClient.connect(node.ws_url, ROOM, "writer")
    everyone = [*viewers, writer]
    try:
        await asyncio.gather(*(c.event("snapshot") for c in everyone))
        acked = [await post(writer, f"before{i}") for i in range(5)]
        source = cluster.owner(channel(prefix, ROOM))
        target = next(m for m in cluster.masters_now() if m is not source)
        cluster.move_slot_of(channel(prefix, ROOM), target)
        assert cluster.owner(channel(prefix, ROOM)) is target
        acked += [await post(writer, f"after{i}") for i in range(5)]
        offsets = [a["offset"] for a in acked]
        assert offsets == list(range(1, 11)), "history and offsets moved with the slot"
        for viewer in viewers:
            await viewer.wait(lambda v=viewer: [o for o, _ in comments(v)] == offsets, 15)
            assert_gapless(viewer)
    finally:
        await asyncio.gather(*(c.close() for c in everyone))
