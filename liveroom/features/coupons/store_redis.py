"""RedisCouponStore: coupon batches in Redis, for the Redis engine (through its ``RedisCore``).

Every atomic step is one Lua script (this package's ``lua/coupon_*.lua``). All keys of a room
carry its hash tag, so each script runs on one Redis Cluster slot, and so do the flash-sale
scripts that use a claimed coupon::

    <prefix>:{room:<room>}:cbatches     hash: batch id -> terms JSON (times in ms)
    <prefix>:{room:<room>}:cclaimed     hash: batch id -> coupons claimed
    <prefix>:{room:<room>}:cholders     hash: batch "\\n" user -> coupon id
    <prefix>:{room:<room>}:csaid        hash: batch "\\n" user -> 1 (the keyword was said)
    <prefix>:{room:<room>}:cwallets     hash: user -> coupon ids, spaced, in claim order
    <prefix>:{room:<room>}:coupons      hash: coupon id -> JSON (``engine/coupons.py``)
    <prefix>:{room:<room>}:outbox       stream: the room's business events

Times come from Redis' clock inside the scripts; this module converts between its seconds and
Redis' milliseconds at the boundary.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from liveroom.engine.coupons import Coupon, coupon_key
from liveroom.features.coupons.store import Batch, Claim, ClaimResult, CouponStore, Eligibility

if TYPE_CHECKING:
    from liveroom.engine.redis_core import RedisCore

#: the terms kept in milliseconds in Redis (the rest are as ``Batch.terms`` gives them)
_TIMES = ("start", "end", "valid_s", "valid_until", "created")


class _Keys:
    __slots__ = ("batches", "claimed", "holders", "said", "wallets", "coupons")

    def __init__(self, core: RedisCore, room: str) -> None:
        keys = core.keys(room)
        self.batches = keys.sub("cbatches")
        self.claimed = keys.sub("cclaimed")
        self.holders = keys.sub("cholders")
        self.said = keys.sub("csaid")
        self.wallets = keys.sub("cwallets")
        self.coupons = coupon_key(keys)


class RedisCouponStore:
    """Satisfies ``CouponStore``."""

    def __init__(self, core: RedisCore) -> None:
        self.core = core

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self.core.run(name, keys, args, package=__package__)

    async def issue(self, room: str, batch: Batch) -> bool:
        k = _Keys(self.core, room)
        return bool(await self._run("coupon_issue", [k.batches], [batch.id, _stored(batch)]))

    async def get(self, room: str, batch: str) -> Batch | None:
        k = _Keys(self.core, room)
        async with self.core.guard():
            pipe = self.core.client.pipeline(transaction=False)  # one slot: fine on a cluster
            pipe.hget(k.batches, batch)
            pipe.hget(k.claimed, batch)
            raw, claimed = await pipe.execute()
        return _batch(room, raw, claimed) if raw is not None else None

    async def in_room(self, room: str) -> list[Batch]:
        k = _Keys(self.core, room)
        async with self.core.guard():
            pipe = self.core.client.pipeline(transaction=False)
            pipe.hvals(k.batches)
            pipe.hgetall(k.claimed)
            rows, claimed = await pipe.execute()
        counts = {_text(b): int(n) for b, n in claimed.items()}
        found = [_batch(room, raw, 0) for raw in rows]
        found = [replace(b, claimed=counts.get(b.id, 0)) for b in found]
        return sorted(found, key=lambda b: (b.created, b.id))

    async def close(self, room: str, batch: str) -> Batch | None:
        k = _Keys(self.core, room)
        raw, claimed = await self._run("coupon_close", [k.batches, k.claimed], [batch])
        return _batch(room, raw, claimed) if raw is not None else None

    async def claim(self, room: str, batch: str, user: str) -> ClaimResult:
        k = _Keys(self.core, room)
        outbox = await self.core.outbox(room)
        answer, raw, claimed, coupon = await self._run(
            "coupon_claim",
            [k.batches, k.claimed, k.holders, k.said, k.wallets, k.coupons, outbox],
            [batch, user],
        )
        return ClaimResult(
            Claim(_text(answer)),
            _batch(room, raw, claimed) if raw is not None else None,
            Coupon.from_stored(orjson.loads(coupon)) if coupon is not None else None,
        )

    async def said(self, room: str, user: str, text: str) -> list[str]:
        k = _Keys(self.core, room)
        ids = await self._run("coupon_said", [k.batches, k.claimed, k.said], [user, text])
        return [_text(i) for i in ids]

    async def keywords(self, room: str) -> frozenset[str]:
        # this node's clock, not Redis': the set only spares comments a round trip, and
        # ``coupon_said`` decides by Redis' clock
        now = time.time()
        return frozenset(
            b.keyword
            for b in await self.in_room(room)
            if b.eligibility is Eligibility.KEYWORD and b.status(now) in ("open", "scheduled")
        )

    async def wallet(self, room: str, user: str) -> list[Coupon]:
        k = _Keys(self.core, room)
        rows = await self._run("coupon_wallet", [k.wallets, k.coupons], [user])
        return [Coupon.from_stored(orjson.loads(raw)) for raw in rows]

    async def coupons(self, room: str, batch: str) -> list[Coupon]:
        k = _Keys(self.core, room)
        async with self.core.guard():
            holders = await self.core.client.hgetall(k.holders)
            mine = [_text(i) for slot, i in holders.items() if _text(slot).startswith(batch + "\n")]
            rows = await self.core.client.hmget(k.coupons, mine) if mine else []
        found = [Coupon.from_stored(orjson.loads(raw)) for raw in rows if raw is not None]
        return sorted(found, key=lambda c: (c.claimed, c.id))


def _stored(batch: Batch) -> bytes:
    terms = batch.terms()
    for name in _TIMES:
        terms[name] = int(round(terms[name] * 1000))
    return orjson.dumps(terms)


def _batch(room: str, raw: bytes, claimed: Any) -> Batch:
    terms = orjson.loads(raw)
    for name in _TIMES:
        terms[name] = terms[name] / 1000
    return Batch.from_terms(room, terms, int(claimed or 0))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


#: the static conformance check (mypy): a ``RedisCouponStore`` is a ``CouponStore``
_satisfies: Callable[[RedisCore], CouponStore] = RedisCouponStore
