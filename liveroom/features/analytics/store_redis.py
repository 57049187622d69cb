"""RedisAnalytics: the host's analytics in Redis, for the Redis engine through its
``RedisCore`` (see ``store.py`` for the contract).

A node's write of a room is one atomic step of a script over the room's keys, which share its
hash tag (``lua/analytics_lib.lua``). On a standalone Redis the rooms with no newcomer go
``ROOMS_PER_WRITE`` to a call (``analytics_write_rooms.lua``), each room still its own step
with its own outcome; on a Cluster, and for a room with newcomers, a room is a call
(``analytics_write.lua``). The returning-viewer check is one script over the host's own key.
Key names::

    {prefix}:{room:<id>}:an:meta      hash  first, last, host
    {prefix}:{room:<id>}:an:users     hash  user -> "<first join>|<profile JSON>"
    {prefix}:{room:<id>}:an:iv        hash  user -> "start,end;..." closed intervals
    {prefix}:{room:<id>}:an:open      hash  "<node>|<user>" -> start of an open interval
    {prefix}:{room:<id>}:an:nodes     hash  node -> its last write
    {prefix}:{room:<id>}:an:counts    hash  counter -> n
    {prefix}:{room:<id>}:an:marks     hash  "<name>|<user>" -> 1 (distinct users counted)
    {prefix}:{room:<id>}:an:boards    hash  board version -> "<time>|<sku>,<sku>,..."
    {prefix}:an:host:<host>           hash  user -> the room of the host they were first in
    {prefix}:an:beats                 zset  node -> its last beat (``beat``)

Every room key expires ``keep_s`` after the room's last write. The beats key does not expire:
each beat drops the nodes whose last beat is older than ``keep_s``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from redis.exceptions import ResponseError

from liveroom.features.analytics.store import AnalyticsStore, RoomData, parse_intervals
from liveroom.features.analytics.tally import Batch

if TYPE_CHECKING:
    from liveroom.engine.redis_core import RedisCore

PARTS = ("meta", "users", "iv", "open", "nodes", "counts", "marks", "boards")
#: rooms per ``analytics_write_rooms`` call on a standalone Redis (8 keys each)
ROOMS_PER_WRITE = 50


def _t(t: float) -> str:
    return f"{t:.3f}"


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _board(value: bytes) -> tuple[float, list[str]]:
    at, _, skus = _s(value).partition("|")
    return float(at), [sku for sku in skus.split(",") if sku]


def _profile(value: bytes) -> tuple[float, bytes]:
    at, _, profile = bytes(value).partition(b"|")
    return float(at), profile


class RedisAnalytics:
    """Satisfies ``AnalyticsStore``."""

    def __init__(self, core: RedisCore) -> None:
        self.core = core
        #: node -> its last beat (a sorted set, scored by the beat's time): node-wide, so in
        #: no room's Cluster slot, and touched by single-key commands alone
        self.beats_key = core.key("an", "beats")
        #: each room's keys, made once: a node writes each of its rooms every pulse or two
        self._room_keys: dict[str, list[str]] = {}

    def _keys(self, room: str) -> list[str]:
        keys = self._room_keys.get(room)
        if keys is None:
            if len(self._room_keys) >= 50_000:
                self._room_keys.clear()
            k = self.core.keys(room)
            keys = self._room_keys[room] = [k.sub("an", part) for part in PARTS]
        return keys

    async def returning(self, host: str, room: str, users: list[str], keep_s: float) -> list[bool]:
        key = self.core.key("an", "host", host)
        reply = await self.core.run(
            "analytics_returning", [key], [room, int(keep_s), *users], package=__package__
        )
        return [bool(int(v)) for v in reply]

    async def write(
        self, batch: Batch, node: str, profiles: dict[str, tuple[float, bytes]], keep_s: float
    ) -> None:
        keys, args = self._write_call(batch, node, profiles, keep_s)
        await self.core.run("analytics_write", keys, args, package=__package__)

    async def write_many(
        self, batches: list[Batch], node: str, keep_s: float
    ) -> list[Exception | None]:
        if self.core.cluster:  # a script reaches one slot: a call a room
            calls = [self._write_call(batch, node, {}, keep_s) for batch in batches]
            replies = await self.core.run_each("analytics_write", calls, package=__package__)
            return [reply if isinstance(reply, Exception) else None for reply in replies]
        # ``ROOMS_PER_WRITE`` rooms a call (``analytics_write_rooms``): a node's thousands of
        # quiet rooms are a few calls of a pipeline, not a script run each in Redis
        calls = []
        for start in range(0, len(batches), ROOMS_PER_WRITE):
            keys: list[Any] = []
            args: list[Any] = [int(keep_s)]
            for batch in batches[start : start + ROOMS_PER_WRITE]:
                keys += self._keys(batch.room)
                args.append(self._body(batch, node, {}))
            calls.append((keys, args))
        replies = await self.core.run_each("analytics_write_rooms", calls, package=__package__)
        out: list[Exception | None] = []
        for (_, args), reply in zip(calls, replies, strict=True):
            if isinstance(reply, Exception):  # the call as a whole: each of its rooms
                out += [reply] * (len(args) - 1)
            else:
                out += [None if each == 1 else ResponseError(_s(each)) for each in reply]
        return out

    def _write_call(
        self, batch: Batch, node: str, profiles: dict[str, tuple[float, bytes]], keep_s: float
    ) -> tuple[list[Any], list[Any]]:
        """The keys and arguments of ``analytics_write`` for one batch."""
        return self._keys(batch.room), [self._body(batch, node, profiles), int(keep_s)]

    def _body(self, batch: Batch, node: str, profiles: dict[str, tuple[float, bytes]]) -> bytes:
        """One batch as ``analytics_lib.lua`` reads it."""
        # a part left out is empty (most writes are a quiet room's heartbeat, or a count)
        body: dict[str, Any] = {"now": _t(batch.now), "node": node, "host": batch.host}
        if profiles:
            body["users"] = [
                x for user, (at, p) in profiles.items() for x in (user, _t(at), p.decode())
            ]
        if batch.closed:
            body["closed"] = [x for u, s, e in batch.closed for x in (u, _t(s), _t(e))]
        if batch.closes:
            body["closes"] = sorted(batch.closes)
        if batch.opens:
            body["opens"] = [x for u, s in batch.opens.items() for x in (u, _t(s))]
        if batch.counts:
            body["counts"] = [x for name, n in batch.counts.items() for x in (name, str(n))]
        if batch.marks:
            body["marks"] = [x for name, user in sorted(batch.marks) for x in (name, user)]
        if batch.boards:
            body["boards"] = [
                x
                for version, (at, skus) in batch.boards.items()
                for x in (str(version), _t(at) + "|" + ",".join(skus))
            ]
        if batch.paid:
            body["paid"] = [
                x
                for order, pay in batch.paid.items()
                for x in (order, pay.user, pay.sku, str(pay.units), str(pay.cents), str(pay.hour))
            ]
        return orjson.dumps(body)

    async def beat(self, node: str, now: float, keep_s: float) -> None:
        async with self.core.guard():
            pipe = self.core.client.pipeline(transaction=False)
            pipe.zadd(self.beats_key, {node: now})
            pipe.zremrangebyscore(self.beats_key, "-inf", f"({_t(now - keep_s)}")
            await pipe.execute()

    async def add_spend(self, room: str, hour: int, cents: int, now: float, keep_s: float) -> None:
        meta, counts = self._keys(room)[0], self._keys(room)[5]
        async with self.core.guard():
            pipe = self.core.client.pipeline(transaction=False)
            pipe.hsetnx(meta, "first", _t(now))
            pipe.hset(meta, "last", _t(now))
            pipe.hincrby(counts, f"h:{hour}:spend", cents)
            pipe.hincrby(counts, "spend", cents)
            pipe.expire(meta, int(keep_s))
            pipe.expire(counts, int(keep_s))
            await pipe.execute()

    async def read(self, room: str, now: float) -> RoomData | None:
        async with self.core.guard():
            pipe = self.core.client.pipeline(transaction=False)
            for key in self._keys(room):
                pipe.hgetall(key)
            replies = await pipe.execute()
        raw = [{_s(k): v for k, v in reply.items()} for reply in replies]
        meta, users, iv, opened, nodes, counts, _, boards = raw
        if not meta:
            return None
        beats: dict[str, float] = {}
        if nodes:
            async with self.core.guard():
                pipe = self.core.client.pipeline(transaction=False)
                for node in nodes:
                    pipe.zscore(self.beats_key, node)
                scores = await pipe.execute()
            beats = {n: float(at) for n, at in zip(nodes, scores, strict=True) if at is not None}
        data = RoomData(
            first=float(meta.get("first", 0)),
            last=float(meta.get("last", 0)),
            host=_s(meta.get("host", b"")),
            users={u: _profile(p) for u, p in users.items()},
            intervals={u: parse_intervals(_s(v)) for u, v in iv.items()},
            nodes={n: float(v) for n, v in nodes.items()},
            beats=beats,
            counts={name: int(v) for name, v in counts.items()},
            boards={int(v): _board(board) for v, board in boards.items()},
        )
        for key, start in opened.items():
            node, _, user = key.partition("|")
            data.open.append((node, user, float(start)))
        return data


#: the static conformance check (mypy): a ``RedisAnalytics`` is an ``AnalyticsStore``
_satisfies: Callable[[RedisCore], AnalyticsStore] = RedisAnalytics
