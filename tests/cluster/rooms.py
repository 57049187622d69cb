"""Rooms, clients and checks shared by the cluster and fault tests."""

from __future__ import annotations

import itertools
from typing import Any

from tests.cluster.redis_cluster import LocalCluster
from tests.liveclient import LiveClient
from tests.timeouts import eventually

#: generous limits, so that only the fault under test refuses a command
LIMITS: dict[str, object] = {
    "user_comment_limit": 10_000,
    "room_comment_cap": 0,
    "command_rate": 1000,
    "command_burst": 1000,
    "max_conns_per_ip": 0,
    "admit_address_rate": 0,
}


def channel(prefix: str, room: str) -> str:
    return f"{prefix}:{{room:{room}}}:ch"


def rooms_on_each_master(cluster: LocalCluster, prefix: str) -> dict[int, str]:
    """One room per master (by port), so that every shard carries traffic."""
    found: dict[int, str] = {}
    masters = len(cluster.masters_now())
    for n in itertools.count():
        room = f"shard{n}"
        found.setdefault(cluster.owner(channel(prefix, room)).port, room)
        if len(found) == masters:
            return found
    raise AssertionError("unreachable")


def comments(client: LiveClient) -> list[tuple[int, str]]:
    return [(e["offset"], e["text"]) for e in client.events if e.get("type") == "comment"]


def assert_gapless(client: LiveClient) -> None:
    """Room event offsets seen by ``client`` run without a gap or repeat after its snapshot."""
    offsets = client.offsets()
    snapshot = next(e for e in client.events if e.get("type") in ("snapshot",))
    start = snapshot["offset"]
    assert offsets == list(range(start + 1, start + 1 + len(offsets))), offsets


async def post(client: LiveClient, text: str, timeout: float = 20.0) -> dict[str, Any]:
    """Post a comment, trying again while the node answers ``unavailable``; the ok reply."""

    async def attempt() -> dict[str, Any] | None:
        answer = await client.command("comment", timeout=timeout, text=text)
        if answer.get("ok"):
            return answer
        assert answer["error"]["code"] == "unavailable", answer
        return None

    return await eventually(attempt, timeout=timeout, interval=0.05)
