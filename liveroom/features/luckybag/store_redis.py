"""The lucky-bag store on Redis: one Lua script per state change (``lua/bag_*.lua`` of this
package).

Each script is registered with ``bag_lib.lua`` in front (``scripts.script_source``), so that
every one of them appends the room event exactly as ``publish.lua`` does, inside its own atomic
step. All keys of a bag carry the room's hash tag; only the deadline index ``<prefix>:bagdue``
does not, and it is touched by single-key commands alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from liveroom.features.luckybag.store import Answer, Bag, BagState, Claim, Draw, Outcome

if TYPE_CHECKING:
    from collections.abc import Sequence

    from liveroom.engine.redis_core import RedisCore

WINS_TTL_S = 3 * 86400  # a day's win counts outlive the day, whatever the time zone


class RedisBagStore:
    """Satisfies ``BagStore`` on Redis."""

    def __init__(self, core: RedisCore) -> None:
        self.core = core
        self.client = core.client
        self.due_key = core.key("bagdue")

    async def _run(
        self, name: str, room: str, bag_id: str, now: float, args: list[Any], day: str = "-"
    ) -> Any:
        k = self.core.keys(room)
        maxlen, oldest = self.core.history_bounds()
        keys = [
            k.seq,
            k.log,
            k.sub("bag", bag_id),
            k.sub("bag", bag_id, "users"),
            k.bags,
            k.bagcur,
            k.sub("bagwins", day),
            k.epoch,
            # the outbox stays the last key (bag_lib.lua: KEYS[#KEYS])
            await self.core.outbox(room),
        ]
        head = [k.channel, maxlen, oldest, self.core.publish_command, repr(now), bag_id]
        return await self.core.run(name, keys, head + args, package=__package__)

    async def create(self, bag: Bag, body: bytes) -> Answer:
        fields: list[Any] = [
            "id",
            bag.id,
            "room",
            bag.room,
            "state",
            bag.state.value,
            "rules",
            orjson.dumps(bag.rules),
            "created_at",
            repr(bag.created_at),
        ]
        reply = await self._run("bag_create", bag.room, bag.id, bag.created_at, [body, *fields])
        return await self._rung(bag.room, _answer(reply))

    async def open(
        self,
        room: str,
        bag_id: str,
        now: float,
        deadline: float,
        seed: str,
        seed_hash: str,
        body: bytes,
    ) -> Answer:
        # Index first: a node dying between the two leaves an entry the sweep drops, never an
        # open bag that no node would draw.
        member = _member(room, bag_id)
        async with self.core.guard():
            await self.client.zadd(self.due_key, {member: deadline})
        reply = await self._run(
            "bag_open", room, bag_id, now, [repr(deadline), seed, seed_hash, body]
        )
        answer = _answer(reply)
        if answer.outcome is not Outcome.OK:
            async with self.core.guard():
                await self.client.zrem(self.due_key, member)
        return await self._rung(room, answer)

    async def _rung(self, room: str, answer: Answer) -> Answer:
        """``answer``, once the bell rang for the event its script published (when it did):
        the bag's news goes to viewers at once (``RedisCore.ring``)."""
        if answer.outcome is Outcome.OK:
            await self.core.ring(room)
        return answer

    async def join(
        self, room: str, bag_id: str, user: str, name: str, now: float, day: str, daily_cap: int
    ) -> Answer:
        reply = await self._run("bag_join", room, bag_id, now, [user, name, daily_cap], day)
        return _answer(reply)

    async def claim(
        self, room: str, bag_id: str, now: float, token: str, lease_s: float, force: bool
    ) -> Claim:
        reply = await self._run(
            "bag_claim", room, bag_id, now, [token, repr(now + lease_s), "1" if force else "0"]
        )
        outcome = Outcome(_text(reply[0]))
        if outcome is Outcome.CLAIMED:
            users = _pairs(reply[2])
            bag = _bag(_pairs(reply[1]), len(users))
            return Claim(outcome, bag, users)
        if outcome is Outcome.STATE:
            return Claim(outcome, state=BagState(_text(reply[1])))
        if outcome is Outcome.EARLY:
            return Claim(outcome, deadline=float(reply[1]))
        return Claim(outcome)

    async def finish(self, room: str, bag_id: str, token: str, now: float, draw: Draw) -> Answer:
        result = orjson.dumps(draw.result)
        args = [token, draw.daily_cap, result, draw.body, draw.notice, WINS_TTL_S, *draw.winners]
        reply = await self._run("bag_finish", room, bag_id, now, args, draw.day)
        outcome = Outcome(_text(reply[0]))
        if outcome is Outcome.CAPPED:
            return Answer(outcome, users=[_text(u) for u in reply[1]])
        if outcome is Outcome.OK:
            await self.core.ring(room)
            await self.undue(room, bag_id)
        return Answer(outcome)

    async def revoke(self, room: str, bag_id: str, now: float, body: bytes) -> Answer:
        answer = _answer(await self._run("bag_revoke", room, bag_id, now, [body]))
        if answer.outcome is Outcome.OK:
            await self.core.ring(room)
            await self.undue(room, bag_id)
        return answer

    async def get(self, room: str, bag_id: str) -> Bag | None:
        k = self.core.keys(room)
        async with self.core.guard():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hgetall(k.sub("bag", bag_id))
                pipe.hlen(k.sub("bag", bag_id, "users"))
                raw, count = await pipe.execute()
        return _bag(_pairs(raw), int(count)) if raw else None

    async def current(self, room: str) -> Bag | None:
        async with self.core.guard():
            raw = await self.client.hgetall(self.core.keys(room).bagcur)
        bag_id = _current_id(raw)
        return await self.get(room, bag_id) if bag_id is not None else None

    async def current_many(self, rooms: Sequence[str]) -> list[Bag | None]:
        """Two rounds for all of ``rooms``: their current-bag records, then, for those with
        a bag, the bag and its participant count (``current``'s two reads). On a standalone
        Redis the records come from one script call (``current_bags.lua``), on the node's
        script connection: most rooms have no bag, and the per-pulse upkeep reads up to
        ``STALE_BATCH`` of them at once; a cluster pipelines one read a room."""
        found: list[Bag | None] = [None] * len(rooms)
        if not rooms:
            return found
        keys = [self.core.keys(room) for room in rooms]
        async with self.core.guard():
            if self.core.cluster:
                async with self.client.pipeline(transaction=False) as pipe:
                    for k in keys:
                        pipe.hgetall(k.bagcur)
                    records = await pipe.execute()
            else:
                records = await self.core.scripts.run(
                    "current_bags", [k.bagcur for k in keys], [], __package__
                )
            current = [
                (i, bag_id)
                for i, bag_id in enumerate(_current_id(raw) for raw in records)
                if bag_id is not None
            ]
            if not current:
                return found
            async with self.client.pipeline(transaction=False) as pipe:
                for i, bag_id in current:
                    pipe.hgetall(keys[i].sub("bag", bag_id))
                    pipe.hlen(keys[i].sub("bag", bag_id, "users"))
                replies = await pipe.execute()
        for n, (i, _) in enumerate(current):
            raw, count = replies[2 * n], replies[2 * n + 1]
            if raw:
                found[i] = _bag(_pairs(raw), int(count))
        return found

    async def recent(self, room: str, limit: int) -> list[Bag]:
        k = self.core.keys(room)
        async with self.core.guard():
            ids = await self.client.zrevrange(k.bags, 0, limit - 1)
            async with self.client.pipeline(transaction=False) as pipe:
                for raw_id in ids:
                    pipe.hgetall(k.sub("bag", _text(raw_id)))
                    pipe.hlen(k.sub("bag", _text(raw_id), "users"))
                replies = await pipe.execute()
        return [
            _bag(_pairs(replies[i]), int(replies[i + 1]))
            for i in range(0, len(replies), 2)
            if replies[i]
        ]

    async def participants(self, room: str, bag_id: str) -> dict[str, str]:
        async with self.core.guard():
            raw = await self.client.hgetall(self.core.keys(room).sub("bag", bag_id, "users"))
        return _pairs(raw)

    async def is_participant(self, room: str, bag_id: str, user: str) -> bool:
        key = self.core.keys(room).sub("bag", bag_id, "users")
        async with self.core.guard():
            return bool(await self.client.hexists(key, user))

    async def wins(self, room: str, day: str, users: list[str]) -> dict[str, int]:
        if not users:
            return {}
        async with self.core.guard():
            values = await self.client.hmget(self.core.keys(room).sub("bagwins", day), users)
        return {u: int(v) for u, v in zip(users, values, strict=True) if v is not None}

    async def due(self, until: float) -> list[tuple[str, str, float]]:
        async with self.core.guard():
            raw: list[Any] = await self.client.zrangebyscore(
                self.due_key, "-inf", until, withscores=True
            )
        out = []
        for member, score in raw:
            room, _, bag_id = _text(member).partition(" ")
            out.append((room, bag_id, float(score)))
        return out

    async def undue(self, room: str, bag_id: str) -> None:
        async with self.core.guard():
            await self.client.zrem(self.due_key, _member(room, bag_id))

    async def seen(
        self,
        room: str,
        node: str,
        users: set[str],
        gone: set[str],
        reset: bool,
        ttl_s: float,
        now: float,
    ) -> None:
        k = self.core.keys(room)
        held = k.sub("bagseen", node)
        async with self.core.guard():
            async with self.client.pipeline(transaction=True) as pipe:
                if reset:
                    pipe.delete(held)
                elif gone:
                    pipe.srem(held, *gone)
                if users:
                    pipe.sadd(held, *users)
                pipe.expire(held, 86400)
                pipe.zadd(k.bagnodes, {node: now + ttl_s})
                pipe.zremrangebyscore(k.bagnodes, "-inf", now - 86400)
                await pipe.execute()

    async def present(self, room: str, now: float) -> set[str]:
        k = self.core.keys(room)
        async with self.core.guard():
            nodes = await self.client.zrangebyscore(k.bagnodes, f"({now!r}", "+inf")
            if not nodes:
                return set()
            members = await self.client.sunion([k.sub("bagseen", _text(n)) for n in nodes])
        return {_text(m) for m in members}


def _member(room: str, bag_id: str) -> str:
    return f"{room} {bag_id}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _pairs(raw: Any) -> dict[str, str]:
    if isinstance(raw, dict):
        return {_text(k): _text(v) for k, v in raw.items()}
    return {_text(raw[i]): _text(raw[i + 1]) for i in range(0, len(raw), 2)}


def _current_id(raw: Any) -> str | None:
    """The bag a room's current-bag record names, unless there is none or it was revoked."""
    cur = _pairs(raw)
    if not cur or cur.get("state") == BagState.REVOKED.value:
        return None
    return cur["id"]


def _answer(reply: list[Any]) -> Answer:
    outcome = Outcome(_text(reply[0]))
    if outcome is Outcome.STATE:
        return Answer(outcome, BagState(_text(reply[1])))
    if outcome is Outcome.OK and len(reply) >= 3:
        return Answer(outcome, count=int(reply[2]), new=bool(int(reply[1])))
    return Answer(outcome)


def _float(value: str | None) -> float | None:
    return float(value) if value else None


def _bag(h: dict[str, str], count: int) -> Bag:
    return Bag(
        id=h["id"],
        room=h["room"],
        state=BagState(h["state"]),
        rules=orjson.loads(h["rules"]),
        created_at=float(h["created_at"]),
        opened_at=_float(h.get("opened_at")),
        deadline=_float(h.get("deadline")),
        seed=h.get("seed"),
        seed_hash=h.get("seed_hash"),
        drawn_at=_float(h.get("drawn_at")),
        revoked_at=_float(h.get("revoked_at")),
        result=orjson.loads(h["result"]) if h.get("result") else None,
        count=count,
    )
