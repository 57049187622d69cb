"""A failover to a replica that missed writes: the room's offsets are given out again under the
same epoch, and the nodes that delivered the lost ones rotate it, so nobody is left with a gap."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from liveroom.engine.redis import RedisEngine
from liveroom.errors import EngineUnavailable
from liveroom.protocol import room_event_body
from tests.cluster.redis_cluster import LocalCluster
from tests.cluster.rooms import LIMITS, channel, post
from tests.conftest import make_settings
from tests.liveclient import LiveClient
from tests.redis_servers import RedisProcess
from tests.servers import ServerProcess
from tests.streamcheck import Ledger
from tests.timeouts import eventually, wait_until

pytestmark = pytest.mark.cluster

ROOM = "fe1"
LOST = 4  # events the replica never gets
REDONE = 10  # events the promoted replica gives out afterwards, past every lost offset


@pytest.fixture
def own_cluster() -> Iterator[LocalCluster]:
    """A cluster of this test's own: it loses a master."""
    local = LocalCluster(masters=3, replicas=1).start()
    try:
        yield local
    finally:
        local.close()


def cut_replication(cluster: LocalCluster, replica: RedisProcess) -> None:
    """Stop ``replica`` taking its master's writes, and keep it so: it reconnects with
    credentials the master refuses, so every write from now on misses it."""
    with cluster.client(replica.port) as c:
        c.config_set("masteruser", "nobody")
        c.config_set("masterauth", "wrong")
        c.execute_command("CLIENT", "KILL", "TYPE", "master")

    def down() -> bool:
        with cluster.client(replica.port) as c:
            return c.info("replication").get("master_link_status") == "down"

    wait_until(down, 10, f"replica {replica.port} still replicates")


def take_over(cluster: LocalCluster, master: RedisProcess, replica: RedisProcess) -> None:
    """SIGKILL ``master``, then ``CLUSTER FAILOVER TAKEOVER`` on ``replica`` (no agreement
    asked: it has not caught up), until it serves."""
    master.kill()
    with cluster.client(replica.port) as c:
        c.execute_command("CLUSTER", "FAILOVER", "TAKEOVER")

    def promoted() -> bool:
        try:
            with cluster.client(replica.port) as c:
                return c.execute_command("ROLE")[0] in (b"master", "master")
        except redis.RedisError:
            return False

    wait_until(promoted, 20, f"replica {replica.port} was not promoted")
    cluster.wait_ok()


def pause(server: ServerProcess, sig: signal.Signals) -> None:
    assert server.proc is not None
    server.proc.send_signal(sig)


async def publish_again(settings: dict[str, Any], count: int) -> list[int]:
    """Publish ``count`` room events through an engine of the test's own (no node of the room
    sees them go out): on the promoted replica they take the lost offsets again."""
    engine = RedisEngine(make_settings(**settings))
    await engine.open()
    try:

        async def one(n: int) -> bytes | None:
            try:
                return await engine.publish(ROOM, room_event_body("system", text=f"redo-{n}"))
            except EngineUnavailable:
                return None

        offsets = []
        for n in range(count):
            payload = await eventually(lambda n=n: one(n), timeout=20, interval=0.05)
            offsets.append(int(payload[10 : payload.index(b",")]))
        return offsets
    finally:
        await engine.close()


async def test_failover_to_a_lagging_replica_resets_whoever_held_the_lost_offsets(
    own_cluster: LocalCluster, start_servers: Any
) -> None:
    """The replica missed the last events; once promoted it gives their offsets out again (and
    past them) under the same epoch. The nodes find it, rotate the epoch and resync their
    viewers; every resume afterwards is a reset or exact, and no offset is two events."""
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
        await asyncio.gather(*(c.event("snapshot", timeout=10) for c in everyone))
        for i in range(3):
            for w in writers:
                await post(w, f"kept-{i}")
        master = own_cluster.owner(channel(prefix, ROOM))
        replica = own_cluster.wait_replicated(master)
        cut_replication(own_cluster, replica)
        last = 0
        for i in range(LOST):
            last = (await post(writers[i % 2], f"lost-{i}"))["offset"]
        for viewer in viewers:
            await viewer.wait(lambda v=viewer: v.position()[0] == last, timeout=15)
        held = [ledger.connection(v.events) for v in viewers]
        epoch = held[0][1]

        # The nodes are frozen while the replica takes over and gives the lost offsets out
        # again, past the last one they delivered: they find the loss only by comparing.
        for node in nodes:
            pause(node, signal.SIGSTOP)
        try:
            take_over(own_cluster, master, replica)
            redone = await publish_again(settings, REDONE)
        finally:
            for node in nodes:
                pause(node, signal.SIGCONT)
        assert redone[0] == last - LOST + 1 and redone[-1] > last, redone

        def moved_on(client: LiveClient) -> bool:
            return any(e["epoch"] != epoch for e in client.of_type("resync"))

        for viewer in viewers:
            await viewer.wait(lambda v=viewer: moved_on(v), timeout=30)
        after = [await post(w, f"after-{n}") for n, w in enumerate(writers)]
        newest = max(a["offset"] for a in after)
        for viewer in viewers:
            await viewer.wait(lambda v=viewer: v.of_type("comment")[-1]["offset"] == newest, 15)
            assert viewer.closed is None
            ledger.connection(viewer.events)
        texts = {e.get("text") for v in viewers for e in v.events}
        assert not {f"redo-{n}" for n in range(REDONE)} & texts, "no reused offset delivered"

        # each comes back with what it held, lost offsets included: reset, never resumed
        for n, viewer in enumerate(viewers):
            position = viewer.position()
            assert position == held[n]
            await viewer.close()
            back = await LiveClient.connect(
                nodes[n // 2].ws_url, ROOM, f"v{n // 2}-{n % 2}", offset=position[0], epoch=epoch
            )
            later.append(back)
            snapshot = await back.event("snapshot", timeout=10)
            assert snapshot["reset"] is True and snapshot["epoch"] != epoch
            ledger.connection(back.events, asked=position)
        assert ledger.resets == len(viewers)
    finally:
        await asyncio.gather(*(c.close() for c in everyone + later))
