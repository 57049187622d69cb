"""What the feed's acceptance tests check of a receiver against the outboxes and the ledger."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import redis.asyncio as aioredis

from liveroom.engine.outbox import Entry, parse_id


async def outbox(client: aioredis.Redis, prefix: str, room: str) -> list[Entry]:
    """Every entry of ``room``'s outbox stream, oldest first."""
    rows = await client.xrange(f"{prefix}:{{room:{room}}}:outbox", "-", "+")
    return [Entry.from_fields(i.decode(), f) for i, f in rows]


def first_arrivals(arrivals: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per room, event ids in the order they first arrived."""
    seen: set[str] = set()
    out: dict[str, list[str]] = defaultdict(list)
    for event in arrivals:
        if event["id"] not in seen:
            seen.add(event["id"])
            out[event["room"]].append(event["id"])
    return out


def in_room_order(ids: list[str]) -> bool:
    keys = [parse_id(i.partition(":")[2]) for i in ids]
    return keys == sorted(keys)


def first_inversion(ids: list[str]) -> tuple[int, str, str] | None:
    """Where ``ids`` first goes back in the room's order (for a failure's message)."""
    keys = [parse_id(i.partition(":")[2]) for i in ids]
    for n in range(1, len(keys)):
        if keys[n] < keys[n - 1]:
            return n, ids[n - 1], ids[n]
    return None


def same_event_per_id(arrivals: list[dict[str, Any]]) -> bool:
    """Every duplicate carries the same event as the first copy (same id, same content)."""
    first: dict[str, dict[str, Any]] = {}
    for event in arrivals:
        if first.setdefault(event["id"], event) != event:
            return False
    return True


def orders_heard(arrivals: list[dict[str, Any]], room: str, sale: str) -> dict[str, str]:
    """Order id -> the last status the receiver heard of, from the order events."""
    status: dict[str, str] = {}
    ordered = sorted(
        {e["id"]: e for e in arrivals if e["room"] == room}.values(),
        key=lambda e: parse_id(e["id"].partition(":")[2]),
    )
    for event in ordered:
        if event["type"].startswith("order.") and event["data"]["sale"] == sale:
            status[event["data"]["order"]] = event["type"].partition(".")[2]
    return status
