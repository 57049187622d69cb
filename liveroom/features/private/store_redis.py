"""RedisPrivateStore: follows, cards and bookings in Redis, for the Redis engine (through its
``RedisCore``; see ``store.py``). Each atomic step is one script of this package's
``lua/private_*.lua``.

Keys. A host's, under the host scope's hash tag (``host.<id>``, or the room's own for a room
that is its own host), so following is one step on the host's Cluster slot, whichever room it
comes from::

    <prefix>:{room:<scope>}:private:followers     set: the host's followers
    <prefix>:{room:<scope>}:private:card:<name>   string: a card the host set for all its rooms
    <prefix>:{room:<scope>}:outbox                stream: its user.followed / user.unfollowed

A room's, under the room's hash tag, beside the room's settings (``:info``, the core's), which
the booking scripts read in the same step::

    <prefix>:{room:<room>}:private:card:<name>    string: a card the host set for this room
    <prefix>:{room:<room>}:private:offered        set: paid orders offered the service card
    <prefix>:{room:<room>}:private:round          hash: the booking round (times in ms)
    <prefix>:{room:<room>}:private:booked         hash: user -> when booked (ms)
    <prefix>:{room:<room>}:private:pending        set: booked users not announced yet
    <prefix>:{room:<room>}:outbox                 stream: room.booked, room.started

And one node-wide index, in a slot of its own::

    <prefix>:private:rounds                       sorted set: room -> when last scheduled (ms)

Times come from Redis' clock inside the scripts; seconds at this module's boundary.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from liveroom.features.private.store import (
    ANNOUNCE_BATCH,
    INDEX_GRACE_S,
    OFFERED_TTL_S,
    Announced,
    Booked,
    Booking,
    Followed,
    PrivateStore,
    Round,
    Schedule,
)

if TYPE_CHECKING:
    from liveroom.engine.redis_core import RedisCore


class RedisPrivateStore:
    """Satisfies ``PrivateStore``."""

    def __init__(self, core: RedisCore) -> None:
        self.core = core
        self.index = core.key("private", "rounds")

    def _followers(self, scope: str) -> str:
        """The follower set of a host's scope (its own hash tag: one Cluster slot per host)."""
        return self.core.keys(scope).sub("private", "followers")

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self.core.run(name, keys, args, package=__package__)

    def _round_keys(self, room: str) -> list[str]:
        k = self.core.keys(room)
        return [k.info, *(k.sub("private", name) for name in ("round", "booked", "pending"))]

    async def _follow(self, action: str, scope: str, room: str, user: str, host: str) -> Followed:
        outbox = await self.core.outbox(scope)
        changed, followers = await self._run(
            "private_follow",
            [self._followers(scope), outbox],
            [user, action, host, room],
        )
        return Followed(bool(changed), int(followers))

    async def follow(self, scope: str, room: str, user: str, host: str) -> Followed:
        return await self._follow("follow", scope, room, user, host)

    async def unfollow(self, scope: str, room: str, user: str, host: str) -> Followed:
        return await self._follow("unfollow", scope, room, user, host)

    async def follows(self, scope: str, user: str) -> bool:
        async with self.core.guard():
            return bool(await self.core.client.sismember(self._followers(scope), user))

    async def followers(self, scope: str) -> int:
        async with self.core.guard():
            return int(await self.core.client.scard(self._followers(scope)))

    async def put_card(self, owner: str, name: str, card: dict[str, Any] | None) -> None:
        key = self.core.keys(owner).sub("private", "card", name)
        async with self.core.guard():
            if card is None:
                await self.core.client.delete(key)
            else:
                await self.core.client.set(key, orjson.dumps(card))

    async def card(self, owner: str, name: str) -> dict[str, Any] | None:
        async with self.core.guard():
            raw = await self.core.client.get(self.core.keys(owner).sub("private", "card", name))
        return orjson.loads(raw) if raw is not None else None

    async def offer_once(self, room: str, key: str) -> bool:
        offered = self.core.keys(room).sub("private", "offered")
        async with self.core.guard():
            pipe = self.core.client.pipeline(transaction=False)
            pipe.sadd(offered, key)
            pipe.expire(offered, OFFERED_TTL_S)
            added, _ = await pipe.execute()
        return bool(added)

    async def schedule(self, room: str, title: str, starts: float) -> Booked:
        # indexed first, so no round is ever open without the sweepers knowing the room
        async with self.core.guard():
            await self.core.client.zadd(self.index, {room: int(time.time() * 1000)})
        code, flat = await self._run(
            "private_schedule", self._round_keys(room), [title, int(starts * 1000)]
        )
        return Booked(Booking(_text(code)), schedule=_schedule(flat))

    async def book(self, room: str, user: str) -> Booked:
        outbox = await self.core.outbox(room)
        code, new, flat = await self._run("private_book", [*self._round_keys(room), outbox], [user])
        return Booked(Booking(_text(code)), bool(new), _schedule(flat))

    async def booked(self, room: str, user: str) -> bool:
        async with self.core.guard():
            booked = self.core.keys(room).sub("private", "booked")
            return bool(await self.core.client.hexists(booked, user))

    async def round(self, room: str) -> Schedule | None:
        _, round_key, booked, _ = self._round_keys(room)
        async with self.core.guard():
            pipe = self.core.client.pipeline(transaction=False)
            pipe.hmget(round_key, "state", "title", "starts")
            pipe.hlen(booked)
            fields, count = await pipe.execute()
        return _schedule([*fields, count])

    async def announce(self, room: str, batch: int = ANNOUNCE_BATCH) -> Announced:
        outbox = await self.core.outbox(room)
        started, announced, left = await self._run(
            "private_announce", [*self._round_keys(room), outbox], [batch]
        )
        return Announced(bool(started), int(announced), int(left))

    async def rounds(self) -> list[str]:
        async with self.core.guard():
            members = await self.core.client.zrange(self.index, 0, -1)
        return sorted(_text(m) for m in members)

    async def retire(self, room: str, grace_s: float = INDEX_GRACE_S) -> bool:
        _, round_key, _, pending = self._round_keys(room)
        async with self.core.guard():
            score = await self.core.client.zscore(self.index, room)
            if score is None or time.time() * 1000 - score < grace_s * 1000:
                return False
            pipe = self.core.client.pipeline(transaction=False)
            pipe.hget(round_key, "state")
            pipe.scard(pending)
            state, left = await pipe.execute()
        if state not in (None, b"started") or left:
            return False
        # only if not scheduled again meanwhile: a new round re-indexes the room first
        return bool(await self._run("private_unindex", [self.index], [room, int(score)]))

    async def ledger(self, room: str) -> dict[str, bool]:
        _, _, booked, pending = self._round_keys(room)
        async with self.core.guard():
            pipe = self.core.client.pipeline(transaction=False)
            pipe.hkeys(booked)
            pipe.smembers(pending)
            users, waiting = await pipe.execute()
        left = {_text(u) for u in waiting}
        return {_text(u): _text(u) not in left for u in users}


def _schedule(flat: list[Any]) -> Schedule | None:
    """A round from ``round_reply``'s ``{state, title, starts ms, bookings}``."""
    if not flat or flat[0] is None:
        return None
    state, title, starts, count = flat
    return Schedule(Round(_text(state)), _text(title or b""), int(starts or 0) / 1000, int(count))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


#: the static conformance check (mypy): a ``RedisPrivateStore`` is a ``PrivateStore``
_satisfies: Callable[[RedisCore], PrivateStore] = RedisPrivateStore
