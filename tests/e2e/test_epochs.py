"""Stream epochs: when a room's history starts afresh, no viewer takes the new offsets for the old.

Each test checks every viewer's frames with ``tests.streamcheck.Ledger``: within an epoch offsets
rise by one, only a ``resync`` or a reset snapshot moves a viewer elsewhere, and one offset of
one epoch is one event for everybody.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.cluster.rooms import LIMITS, post
from tests.liveclient import LiveClient
from tests.redis_servers import RedisProcess
from tests.streamcheck import Ledger

ROOM = "epochs"


async def joined(*clients: LiveClient) -> None:
    await asyncio.gather(*(c.event("snapshot", timeout=10) for c in clients))


async def holding(client: LiveClient, offset: int) -> None:
    """Until ``client`` holds every room event up to ``offset``."""
    await client.wait(lambda: client.position()[0] >= offset, timeout=15)


async def test_memory_server_restarted_under_a_viewer_resets_its_resume(
    start_server: Any,
) -> None:
    """A memory server killed and started again: the old offset and epoch, or an offset alone
    (protocol v1), get a reset snapshot, never ``resumed`` with the new stream's events."""
    server = start_server(**LIMITS)
    ledger = Ledger()
    viewer = await LiveClient.connect(server.ws_url, ROOM, "v")
    legacy = await LiveClient.connect(server.ws_url, ROOM, "old")
    writer = await LiveClient.connect(server.ws_url, ROOM, "w")
    await joined(viewer, legacy, writer)
    last = 0
    for i in range(3):
        last = (await post(writer, f"before-{i}"))["offset"]
    await holding(viewer, last)
    await holding(legacy, last)
    held = ledger.connection(viewer.events)
    held_legacy = ledger.connection(legacy.events)
    assert held == (3, held[1])

    server.kill()
    for client in (viewer, legacy, writer):
        await client.closed_with()
    server.start()
    # the new stream runs past the old offset: an offset-only resume would be served from it
    writer = await LiveClient.connect(server.ws_url, ROOM, "w")
    await joined(writer)
    for i in range(5):
        await post(writer, f"after-{i}")

    back = await LiveClient.connect(server.ws_url, ROOM, "v", offset=held[0], epoch=held[1])
    back_legacy = await LiveClient.connect(server.ws_url, ROOM, "old", offset=held_legacy[0])
    try:
        for client in (back, back_legacy):
            snapshot = await client.event("snapshot", timeout=10)
            assert snapshot["reset"] is True and snapshot["offset"] == 5, snapshot
            assert snapshot["epoch"] != held[1], "a restarted process has a new epoch"
            assert not client.of_type("resumed")
        ledger.connection(back.events, asked=held)
        ledger.connection(back_legacy.events, asked=held_legacy)
        assert [c["text"] for c in snapshot["comments"]] == [f"after-{i}" for i in range(5)]

        # and the new epoch resumes exactly
        await back.close()
        position = back.position()
        await post(writer, "later")
        again = await LiveClient.connect(
            server.ws_url, ROOM, "v", offset=position[0], epoch=position[1]
        )
        resumed = await again.event("resumed", timeout=10)
        assert resumed["epoch"] == position[1] and resumed["missed"] >= 1
        ledger.connection(again.events, asked=position)
        await again.close()
    finally:
        await asyncio.gather(*(c.close() for c in (back, back_legacy, writer)))


async def test_redis_restarted_without_persistence_resyncs_viewers_on_both_nodes(
    start_servers: Any, private_redis: list[RedisProcess]
) -> None:
    """Redis loses everything under two nodes: connected viewers get ``resync`` with a new epoch
    and go on in it without going back; their resumes are reset or exact, never a gap."""
    redis = RedisProcess().start()  # no AOF, no RDB: a restart comes back empty
    private_redis.append(redis)
    settings = {
        "engine": "redis",
        "redis_url": redis.url,
        "redis_prefix": "lre-" + uuid.uuid4().hex[:8],
        "pulse_s": 0.2,
        **LIMITS,
    }
    nodes = start_servers(2, **settings)
    ledger = Ledger()
    viewers = [
        await LiveClient.connect(node.ws_url, ROOM, f"v{n}-{i}")
        for n, node in enumerate(nodes)
        for i in range(2)
    ]
    writers = [await LiveClient.connect(node.ws_url, ROOM, f"w{n}") for n, node in enumerate(nodes)]
    everyone = [*viewers, *writers]
    later: list[LiveClient] = []
    try:
        await joined(*everyone)
        last = 0
        for i in range(4):
            for w in writers:
                last = (await post(w, f"before-{i}"))["offset"]
        await asyncio.gather(*(holding(v, last) for v in viewers))
        before = [ledger.connection(v.events) for v in viewers]
        old_epoch = before[0][1]

        redis.kill()
        redis.start()
        after = [await post(w, f"after-{i}", timeout=30) for i in range(3) for w in writers]
        assert after[0]["offset"] < last, "the new stream starts again below the old offsets"

        for viewer in viewers:
            await viewer.wait(
                lambda v=viewer: any(e["epoch"] != old_epoch for e in v.of_type("resync")), 30
            )
        # and live delivery goes on in the new epoch, on the same connections
        final = [await post(w, f"final-{n}") for n, w in enumerate(writers)]
        newest = max(a["offset"] for a in final)
        for viewer in viewers:
            await viewer.wait(lambda v=viewer: v.of_type("comment")[-1]["offset"] == newest, 15)
            assert viewer.closed is None
        for viewer in viewers:
            ledger.connection(viewer.events)
        assert ledger.resyncs >= len(viewers)

        # each comes back with what it held: the old epoch is gone, so a reset snapshot
        for n, viewer in enumerate(viewers):
            held = viewer.position()
            assert held[1] == old_epoch
            await viewer.close()
            node = nodes[n // 2]
            back = await LiveClient.connect(
                node.ws_url, ROOM, f"v{n // 2}-{n % 2}", offset=held[0], epoch=held[1]
            )
            later.append(back)
            snapshot = await back.event("snapshot", timeout=10)
            assert snapshot["reset"] is True and snapshot["epoch"] != old_epoch
            ledger.connection(back.events, asked=held)
        assert ledger.resets == len(viewers)

        # in the new epoch a resume is exact again, on either node
        await later[0].close()
        position = later[0].position()
        await post(writers[0], "last")
        again = await LiveClient.connect(
            nodes[1].ws_url, ROOM, "v0-0", offset=position[0], epoch=position[1]
        )
        later.append(again)
        resumed = await again.event("resumed", timeout=10)
        assert resumed["epoch"] == position[1] and resumed["missed"] >= 1
        ledger.connection(again.events, asked=position)
    finally:
        await asyncio.gather(*(c.close() for c in everyone + later))
