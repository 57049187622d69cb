"""MemoryCouponStore: coupon batches in this process's memory, for the memory engine.

Every method runs without awaiting in the middle, so each is atomic like its Lua twin in
``store_redis.py``. Claimed coupons go to the memory engine's coupon seam
(``MemoryHost.coupons``), where flash-sale buys use them; ``coupon.claimed`` goes to the room's
outbox (``MemoryHost.emit_now``) in the same step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from liveroom.engine.coupons import Coupon, MemoryCoupons
from liveroom.features.coupons.store import (
    Batch,
    Claim,
    ClaimResult,
    CouponStore,
    Eligibility,
    round_ms,
)


@dataclass(slots=True)
class _Batch:
    batch: Batch
    holders: dict[str, str] = field(default_factory=dict)  # user -> coupon id, claim order
    said: set[str] = field(default_factory=set)  # users who said a keyword batch's keyword


class MemoryCouponStore:
    """Satisfies ``CouponStore``."""

    def __init__(
        self,
        clock: Callable[[], float],
        emit: Callable[[str, str, dict[str, Any]], str],
        coupons: MemoryCoupons,
    ) -> None:
        self.clock = clock
        self.emit = emit
        self.seam = coupons
        self._batches: dict[str, dict[str, _Batch]] = {}

    def _now(self) -> float:
        return round_ms(self.clock())

    async def issue(self, room: str, batch: Batch) -> bool:
        batches = self._batches.setdefault(room, {})
        if batch.id in batches:
            return False
        batches[batch.id] = _Batch(batch)
        return True

    async def get(self, room: str, batch: str) -> Batch | None:
        rec = self._batches.get(room, {}).get(batch)
        return rec.batch if rec is not None else None

    async def in_room(self, room: str) -> list[Batch]:
        found = [rec.batch for rec in self._batches.get(room, {}).values()]
        return sorted(found, key=lambda b: (b.created, b.id))

    async def close(self, room: str, batch: str) -> Batch | None:
        rec = self._batches.get(room, {}).get(batch)
        if rec is None:
            return None
        now = self._now()
        if not rec.batch.end or rec.batch.end > now:
            rec.batch = replace(rec.batch, end=now)
        return rec.batch

    async def claim(self, room: str, batch: str, user: str) -> ClaimResult:
        rec = self._batches.get(room, {}).get(batch)
        if rec is None:
            return ClaimResult(Claim.NOT_FOUND)
        current = rec.batch
        held = rec.holders.get(user)
        if held is not None:
            return ClaimResult(Claim.ALREADY, current, self.seam.get(room, held))
        now = self._now()
        answer = Claim.OK
        if current.end and now >= current.end:
            answer = Claim.CLOSED
        elif current.start and now < current.start:
            answer = Claim.NOT_STARTED
        elif current.left <= 0:
            answer = Claim.GONE
        elif current.eligibility is Eligibility.KEYWORD and user not in rec.said:
            answer = Claim.NOT_ELIGIBLE
        if answer is not Claim.OK:
            return ClaimResult(answer, current)
        coupon = current.coupon(user, now)
        self.seam.put(room, coupon)
        rec.holders[user] = coupon.id
        rec.batch = replace(current, claimed=current.claimed + 1)
        self.emit(
            room,
            "coupon.claimed",
            {"coupon": coupon.id, "batch": batch, "user": user, "left": rec.batch.left},
        )
        return ClaimResult(Claim.OK, rec.batch, coupon)

    def _open_keyword_batches(self, room: str, now: float) -> list[_Batch]:
        return [
            rec
            for rec in self._batches.get(room, {}).values()
            if rec.batch.eligibility is Eligibility.KEYWORD
            and rec.batch.status(now) in ("open", "scheduled")
        ]

    async def said(self, room: str, user: str, text: str) -> list[str]:
        unlocked = []
        for rec in self._open_keyword_batches(room, self._now()):
            if rec.batch.keyword == text and user not in rec.said:
                rec.said.add(user)
                unlocked.append(rec.batch.id)
        return unlocked

    async def keywords(self, room: str) -> frozenset[str]:
        return frozenset(rec.batch.keyword for rec in self._open_keyword_batches(room, self._now()))

    async def wallet(self, room: str, user: str) -> list[Coupon]:
        found = (
            self.seam.get(room, rec.holders[user])
            for rec in self._batches.get(room, {}).values()
            if user in rec.holders
        )
        return sorted((c for c in found if c is not None), key=lambda c: (c.claimed, c.id))

    async def coupons(self, room: str, batch: str) -> list[Coupon]:
        rec = self._batches.get(room, {}).get(batch)
        if rec is None:
            return []
        found = (self.seam.get(room, coupon) for coupon in rec.holders.values())
        return [c for c in found if c is not None]


#: the static conformance check (mypy): a ``MemoryCouponStore`` is a ``CouponStore``
_satisfies: Callable[
    [Callable[[], float], Callable[[str, str, dict[str, Any]], str], MemoryCoupons], CouponStore
] = MemoryCouponStore
