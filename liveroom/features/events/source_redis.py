"""RedisFeedSource: the outbox streams in Redis, delivered by every node through consumer groups.

Keys (``liveroom/engine/outbox.py`` describes the outbox itself)::

    <prefix>:{room:<id>}:outbox                    stream: the room's business events
    <prefix>:{room:<id>}:outbox:lease:<endpoint>   string with PX: which node delivers the lane
    <prefix>:feed:rooms                            set: rooms with an outbox
    <prefix>:feed:endpoints                        hash: endpoint id -> endpoint JSON (with secret)
    <prefix>:feed:dead                             stream: dead letters

A lane (room, endpoint) is the consumer group ``wh:<endpoint>`` on the room's stream; the
consumer name is the node's owner id. A backend reading the outbox itself uses a group of its
own (``docs/events.md``, "Pulling").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from redis.exceptions import ResponseError

from liveroom.engine.outbox import Entry
from liveroom.features.events.endpoints import Endpoint
from liveroom.features.events.source import DeadLetter, FeedSource, Read, Trimmed

if TYPE_CHECKING:
    from liveroom.engine.redis_core import RedisCore

DEAD_MAX = 100_000


def group_name(endpoint: str) -> str:
    return f"wh:{endpoint}"


class RedisFeedSource:
    """Satisfies ``FeedSource``."""

    def __init__(self, core: RedisCore) -> None:
        self.core = core
        self.client = core.client
        self.endpoints_key = core.key("feed", "endpoints")
        self.dead_key = core.key("feed", "dead")

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self.core.run(name, keys, args, package=__package__)

    def _stream(self, room: str) -> str:
        return self.core.keys(room).outbox

    def watch(self, callback: Callable[[str], None]) -> None:
        return None  # polled: the other nodes append too

    async def rooms(self) -> list[str]:
        async with self.core.guard():
            members = await self.client.smembers(self.core.outbox_rooms)
        return sorted(_text(m) for m in members)

    async def lease(self, room: str, endpoint: str, owner: str, ttl_s: float) -> bool:
        key = self.core.keys(room).sub("outbox", "lease", endpoint)
        return bool(await self._run("feed_lease", [key], [owner, int(ttl_s * 1000), "take"]))

    async def release(self, room: str, endpoint: str, owner: str) -> None:
        key = self.core.keys(room).sub("outbox", "lease", endpoint)
        await self._run("feed_lease", [key], [owner, 0, "release"])

    async def open_lane(self, room: str, endpoint: str, start: float) -> None:
        async with self.core.guard():
            await self._create(self._stream(room), group_name(endpoint), f"{int(start * 1000)}-0")

    async def _create(self, stream: str, group: str, start: str, mkstream: bool = True) -> None:
        try:
            await self.client.xgroup_create(stream, group, start, mkstream=mkstream)
        except ResponseError as exc:
            # BUSYGROUP: it exists already; without mkstream, a missing stream waits for its
            # next event (the script's XADD creates it)
            if "BUSYGROUP" not in str(exc) and "requires the key to exist" not in str(exc):
                raise

    async def claim(self, room: str, endpoint: str, owner: str, idle_s: float) -> int:
        claimed, start = 0, "0-0"
        async with self.core.guard():
            while True:
                reply = await self.client.xautoclaim(
                    self._stream(room),
                    group_name(endpoint),
                    owner,
                    int(idle_s * 1000),
                    start_id=start,
                    count=500,
                )
                start = _text(reply[0])
                claimed += len(reply[1])
                if start == "0-0":
                    return claimed

    async def read(self, room: str, endpoint: str, owner: str, count: int) -> Read:
        stream, group = self._stream(room), group_name(endpoint)
        async with self.core.guard():
            # what this owner read before (or claimed) and has not acknowledged comes first
            try:
                reply = await self.client.xreadgroup(group, owner, {stream: "0"}, count=count)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # the stream went away with its groups (deleted, or a Redis that lost its
                # data): deliver whatever it holds from its start, once it exists again
                await self._create(stream, group, "0", mkstream=False)
                return Read([])
            entries, gone = _entries(reply)
            if gone:
                # trimmed while pending: lost, and reported by the caller
                await self.client.xack(stream, group, *gone)
            if not entries:
                reply = await self.client.xreadgroup(group, owner, {stream: ">"}, count=count)
                entries, _ = _entries(reply)
        return Read(entries, len(gone))

    async def ack(self, room: str, endpoint: str, ids: list[str]) -> None:
        if ids:
            async with self.core.guard():
                await self.client.xack(self._stream(room), group_name(endpoint), *ids)

    async def bury(self, endpoint: str, entries: list[Entry], error: str, attempts: int) -> None:
        now = int(time.time() * 1000)
        async with self.core.guard():
            pipe = self.client.pipeline(transaction=False)
            for entry in entries:
                fields = {
                    "endpoint": endpoint,
                    "event": orjson.dumps(entry.event()),
                    "error": error,
                    "attempts": attempts,
                    "at": now,
                }
                pipe.xadd(self.dead_key, fields, maxlen=DEAD_MAX, approximate=True)
            await pipe.execute()

    async def dead(self, limit: int, before: str | None = None) -> list[DeadLetter]:
        top = f"({before}" if before else "+"
        async with self.core.guard():
            rows = await self.client.xrevrange(self.dead_key, top, "-", count=limit)
        return [_letter(raw_id, raw) for raw_id, raw in rows]

    async def dead_by_id(self, ids: list[str]) -> list[DeadLetter]:
        async with self.core.guard():
            pipe = self.client.pipeline(transaction=False)
            for dead_id in ids:
                pipe.xrange(self.dead_key, dead_id, dead_id)
            found = await pipe.execute()
        return [_letter(raw_id, raw) for rows in found for raw_id, raw in rows]

    async def dead_count(self) -> int:
        async with self.core.guard():
            return int(await self.client.xlen(self.dead_key))

    async def unbury(self, ids: list[str]) -> None:
        if ids:
            async with self.core.guard():
                await self.client.xdel(self.dead_key, *ids)

    async def trim(self, max_len: int, max_age_s: float) -> Trimmed:
        oldest = int((time.time() - max_age_s) * 1000) if max_age_s > 0 else 0
        out = Trimmed()
        for room in await self.rooms():
            reply = await self._run("feed_trim", [self._stream(room)], [max_len, oldest])
            out.rooms += 1
            out.removed += int(reply[0])
            for i in range(1, len(reply), 2):
                out.behind[(room, _text(reply[i]))] = int(reply[i + 1])
        return out

    async def endpoints(self) -> list[Endpoint]:
        async with self.core.guard():
            raw = await self.client.hvals(self.endpoints_key)
        return sorted((Endpoint.load(r) for r in raw), key=lambda e: (e.created, e.id))

    async def put_endpoint(self, endpoint: Endpoint) -> None:
        async with self.core.guard():
            await self.client.hset(self.endpoints_key, endpoint.id, endpoint.stored())

    async def delete_endpoint(self, endpoint: str) -> bool:
        async with self.core.guard():
            return bool(await self.client.hdel(self.endpoints_key, endpoint))


def _letter(raw_id: Any, raw: dict[Any, Any]) -> DeadLetter:
    f = {_text(k): v for k, v in raw.items()}
    return DeadLetter(
        _text(raw_id),
        _text(f["endpoint"]),
        orjson.loads(f["event"]),
        _text(f["error"]),
        int(f["attempts"]),
        int(f["at"]) / 1000,
    )


def _entries(reply: Any) -> tuple[list[Entry], list[str]]:
    """Entries of an XREADGROUP reply, and the ids of pending ones since trimmed away."""
    entries: list[Entry] = []
    gone: list[str] = []
    if not reply:
        return entries, gone
    rows = reply[0][1] if isinstance(reply, list) else next(iter(reply.values()))[0]
    for raw_id, fields in rows:
        entry = _text(raw_id)
        if not fields:
            gone.append(entry)
        else:
            entries.append(Entry.from_fields(entry, fields))
    return entries, gone


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


#: the static conformance check (mypy): a ``RedisFeedSource`` is a ``FeedSource``
_satisfies: Callable[[RedisCore], FeedSource] = RedisFeedSource
