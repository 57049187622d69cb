"""The coupon store: batches a host issues, and the atomic claim.

``CouponStore`` is the contract; ``MemoryCouponStore`` (``store_memory.py``) and
``RedisCouponStore`` (``store_redis.py``, one Lua script per atomic step under the room's hash
tag) fulfil it, and ``coupon_store(engine)`` builds the one for the engine in use.
``tests/coupons/test_store.py`` runs one conformance suite against both.

A claimed coupon is a ``liveroom.engine.coupons.Coupon``: the claim writes it where the engine's
coupon seam keeps it (the room's coupon hash on Redis, ``MemoryHost.coupons`` in memory), so the
stores that take orders use it and give it back in their own atomic steps without knowing this
feature. What a claim keeps, and ``audit`` checks::

    claimed <= count, one coupon per (batch, user), every claimed coupon in the seam's state

Times are seconds since the epoch as floats, kept to the millisecond; 0 means "not set". The
store reads the time itself (Redis' clock, or the memory engine's), as the flash sale does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from liveroom.engine.coupons import Coupon, CouponKind, CouponStatus


class Eligibility(StrEnum):
    """Who may claim from a batch."""

    ALL = "all"  # every signed-in viewer
    FOLLOWERS = "followers"  # viewers who follow the room's host (``NodeContext.follows``)
    KEYWORD = "keyword"  # viewers who commented the batch's keyword after it was issued


class Claim(StrEnum):
    """What the store says to a claim."""

    OK = "ok"
    NOT_FOUND = "not_found"
    NOT_STARTED = "not_started"
    CLOSED = "claim_closed"  # the claim window has ended, or the host closed it
    GONE = "coupon_gone"  # every coupon of the batch has been claimed
    ALREADY = "already_claimed"  # this user holds one from this batch (it comes back)
    NOT_ELIGIBLE = "not_eligible"  # a keyword batch, and this user has not said the keyword


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch of coupons as the host issued it; ``claimed`` as the store counts now.

    A claimed coupon is valid from its claim until the earlier of ``valid_until`` and the claim
    plus ``valid_s`` (either 0: not that bound; both 0: no end).
    """

    id: str
    room: str
    title: str
    kind: CouponKind
    value: int  # fen off, or percent off
    cap: int  # percent coupons: most fen off (0: no cap)
    min: int  # the order must be worth at least this many fen (0: any)
    sku: str  # "" for any product
    count: int
    start: float  # claim window (0: from the issue)
    end: float  # 0: until all are claimed or the host closes it
    valid_s: float
    valid_until: float
    eligibility: Eligibility
    keyword: str
    created: float
    claimed: int = 0

    @property
    def left(self) -> int:
        return self.count - self.claimed

    def status(self, now: float) -> str:
        """``scheduled``, ``open``, ``gone`` (all claimed) or ``closed`` (window over)."""
        if self.end and now >= self.end:
            return "closed"
        if self.left <= 0:
            return "gone"
        return "scheduled" if self.start and now < self.start else "open"

    def coupon_until(self, claimed: float) -> float:
        """When a coupon claimed at ``claimed`` stops being valid (0: never)."""
        ends = [t for t in (self.valid_until, claimed + self.valid_s if self.valid_s else 0) if t]
        return min(ends) if ends else 0.0

    def coupon(self, user: str, claimed: float) -> Coupon:
        """The coupon ``user`` gets by the batch's next claim, made at ``claimed``."""
        return Coupon(
            id=f"{self.id}-{self.claimed + 1}",
            batch=self.id,
            user=user,
            kind=self.kind,
            value=self.value,
            cap=self.cap,
            min=self.min,
            sku=self.sku,
            valid_from=claimed,
            valid_until=round_ms(self.coupon_until(claimed)),
            status=CouponStatus.CLAIMED,
            order="",
            claimed=claimed,
        )

    def public(self, now: float) -> dict[str, Any]:
        """What viewers see on the coupon card (snapshot, ``coupon`` events, the API)."""
        return {
            "id": self.id,
            "title": self.title,
            "kind": self.kind.value,
            "value": self.value,
            "cap": self.cap or None,
            "min": self.min or None,
            "sku": self.sku or None,
            "count": self.count,
            "left": self.left,
            "start": self.start or self.created,
            "end": self.end or None,
            "valid_s": self.valid_s or None,
            "valid_until": self.valid_until or None,
            "eligibility": self.eligibility.value,
            "keyword": self.keyword or None,
            "status": self.status(now),
        }

    def terms(self) -> dict[str, Any]:
        """The batch as stored (times in seconds): everything but ``claimed``."""
        return {
            "id": self.id,
            "title": self.title,
            "kind": self.kind.value,
            "value": self.value,
            "cap": self.cap,
            "min": self.min,
            "sku": self.sku,
            "count": self.count,
            "start": self.start,
            "end": self.end,
            "valid_s": self.valid_s,
            "valid_until": self.valid_until,
            "eligibility": self.eligibility.value,
            "keyword": self.keyword,
            "created": self.created,
        }

    @classmethod
    def from_terms(cls, room: str, t: dict[str, Any], claimed: int) -> Batch:
        return cls(
            id=t["id"],
            room=room,
            title=t["title"],
            kind=CouponKind(t["kind"]),
            value=int(t["value"]),
            cap=int(t["cap"]),
            min=int(t["min"]),
            sku=t["sku"],
            count=int(t["count"]),
            start=float(t["start"]),
            end=float(t["end"]),
            valid_s=float(t["valid_s"]),
            valid_until=float(t["valid_until"]),
            eligibility=Eligibility(t["eligibility"]),
            keyword=t["keyword"],
            created=float(t["created"]),
            claimed=claimed,
        )


@dataclass(frozen=True, slots=True)
class ClaimResult:
    """A claim's answer. ``coupon`` is the claimer's (new on OK, the one held on ALREADY);
    ``batch`` the batch after the claim (None for NOT_FOUND); ``fresh`` only on the claim that
    made the coupon."""

    answer: Claim
    batch: Batch | None = None
    coupon: Coupon | None = None

    @property
    def fresh(self) -> bool:
        return self.answer is Claim.OK


class CouponStore(Protocol):
    """Coupon batches of every room. Each method is one atomic step."""

    async def issue(self, room: str, batch: Batch) -> bool:
        """Store a new batch; False when the room has one by that id."""
        ...

    async def get(self, room: str, batch: str) -> Batch | None: ...

    async def in_room(self, room: str) -> list[Batch]:
        """Every batch of the room, oldest first."""
        ...

    async def close(self, room: str, batch: str) -> Batch | None:
        """End the claim window now (claimed coupons stay valid); idempotent. None when there
        is no such batch."""
        ...

    async def claim(self, room: str, batch: str, user: str) -> ClaimResult:
        """Check the window, the count, one per user and (keyword batches) the keyword said,
        then make the user's coupon and append ``coupon.claimed``, all at once."""
        ...

    async def said(self, room: str, user: str, text: str) -> list[str]:
        """``user`` commented ``text``: the ids of the room's open keyword batches whose
        keyword it is, now open to that user's claim."""
        ...

    async def keywords(self, room: str) -> frozenset[str]:
        """The keywords of the room's open keyword batches."""
        ...

    async def wallet(self, room: str, user: str) -> list[Coupon]:
        """``user``'s coupons in the room, in the order claimed."""
        ...

    async def coupons(self, room: str, batch: str) -> list[Coupon]:
        """Every coupon claimed from ``batch``, in the order claimed (for the host's audit)."""
        ...


def audit(batch: Batch, coupons: list[Coupon]) -> dict[str, Any]:
    """Check a batch from its coupons: never more than ``count``, one per user, and the count
    the store keeps equal to the coupons it holds; ``used``: how many are used by an order."""
    users = [c.user for c in coupons]
    used = [c for c in coupons if c.status is CouponStatus.USED]
    one_each = len(users) == len(set(users))
    counted = batch.claimed == len(coupons) <= batch.count
    return {
        "batch": batch.id,
        "count": batch.count,
        "claimed": len(coupons),
        "used": len(used),
        "one_per_user": one_each,
        "within_count": counted,
        "ok": one_each and counted,
    }


def round_ms(seconds: float) -> float:
    return round(seconds * 1000) / 1000
