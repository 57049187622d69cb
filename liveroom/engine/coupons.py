"""Claimed coupons: the seam through which an order uses a coupon and gives it back.

Features do not import each other, yet a flash-sale buy (or a group order) must use a coupon
in the very step that reserves the order, and a cancel or an expiry must give it back in the
very step that releases it. So the coupon's state and its two moves live here, below the
features, like the outbox:

- on Redis, ``lua/coupon_lib.lua``: ``coupon_use`` and ``coupon_return``, put in front of any
  script that says ``-- uses: coupon_lib``, over the room's coupon hash (``coupon_key``), which
  carries the room's hash tag;
- on the memory engine, ``MemoryCoupons`` (``MemoryHost.coupons``): the same checks, answers and
  events, in one synchronous call.

The coupons feature (``liveroom.features.coupons``) issues batches and puts claimed coupons
here (``MemoryCoupons.put``, or its own claim script writing the same JSON); the stores that
take orders only use and return them. ``docs/coupons.md`` tells the whole story.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from liveroom.errors import Code, CouponCode, ErrorCode

if TYPE_CHECKING:
    from liveroom.engine.redis_core import RoomKeys


class CouponAnswer(StrEnum):
    """What using a coupon answers (the same strings in ``coupon_lib.lua``)."""

    OK = "ok"
    UNKNOWN = "coupon_unknown"
    NOT_YOURS = "not_yours"
    USED = "coupon_used"
    EXPIRED = "coupon_expired"
    NOT_APPLICABLE = "not_applicable"


#: each refusal of a coupon's use, as the client-visible code and a message
COUPON_REFUSALS: dict[CouponAnswer, tuple[Code, str]] = {
    CouponAnswer.UNKNOWN: (ErrorCode.NOT_FOUND, "no such coupon in this room"),
    CouponAnswer.NOT_YOURS: (CouponCode.NOT_YOURS, "this coupon belongs to someone else"),
    CouponAnswer.USED: (CouponCode.COUPON_USED, "this coupon is used by another order"),
    CouponAnswer.EXPIRED: (CouponCode.COUPON_EXPIRED, "this coupon has expired"),
    CouponAnswer.NOT_APPLICABLE: (
        CouponCode.NOT_APPLICABLE,
        "this coupon does not apply to this order (product, minimum spend or start)",
    ),
}


class CouponStatus(StrEnum):
    CLAIMED = "claimed"
    USED = "used"


class CouponKind(StrEnum):
    AMOUNT = "amount"  # ``value`` fen off
    PERCENT = "percent"  # ``value`` percent off, at most ``cap`` fen (0: no cap)


@dataclass(frozen=True, slots=True)
class Coupon:
    """One claimed coupon with its batch's terms. Times in seconds (Redis keeps ms)."""

    id: str
    batch: str
    user: str
    kind: CouponKind
    value: int
    cap: int
    min: int
    sku: str
    valid_from: float
    valid_until: float  # 0: no end
    status: CouponStatus
    order: str
    claimed: float

    def discount(self, gross: int) -> int:
        """Fen taken off an order worth ``gross`` fen: never more than the order, nor than a
        percent coupon's cap (``coupon_discount`` in ``coupon_lib.lua``)."""
        off = self.value
        if self.kind is CouponKind.PERCENT:
            off = gross * self.value // 100
            if self.cap > 0:
                off = min(off, self.cap)
        return min(off, gross)

    def check(self, user: str, sku: str, gross: int, now: float) -> CouponAnswer:
        """Whether ``user`` may use it now on an order of ``sku`` worth ``gross`` fen."""
        if self.user != user:
            return CouponAnswer.NOT_YOURS
        if self.status is CouponStatus.USED:
            return CouponAnswer.USED
        if self.valid_until and now >= self.valid_until:
            return CouponAnswer.EXPIRED
        if now < self.valid_from or (self.sku and self.sku != sku) or gross < self.min:
            return CouponAnswer.NOT_APPLICABLE
        return CouponAnswer.OK

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "batch": self.batch,
            "user": self.user,
            "kind": self.kind.value,
            "value": self.value,
            "cap": self.cap,
            "min": self.min,
            "sku": self.sku or None,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until or None,
            "status": self.status.value,
            "order": self.order or None,
            "claimed": self.claimed,
        }

    def stored(self) -> dict[str, Any]:
        """The JSON ``coupon_lib.lua`` reads and writes (times in ms)."""
        return {
            "id": self.id,
            "batch": self.batch,
            "user": self.user,
            "kind": self.kind.value,
            "value": self.value,
            "cap": self.cap,
            "min": self.min,
            "sku": self.sku,
            "from": _ms(self.valid_from),
            "until": _ms(self.valid_until),
            "status": self.status.value,
            "order": self.order,
            "claimed": _ms(self.claimed),
        }

    @classmethod
    def from_stored(cls, c: dict[str, Any]) -> Coupon:
        return cls(
            id=c["id"],
            batch=c["batch"],
            user=c["user"],
            kind=CouponKind(c["kind"]),
            value=int(c["value"]),
            cap=int(c["cap"]),
            min=int(c["min"]),
            sku=c["sku"],
            valid_from=int(c["from"]) / 1000,
            valid_until=int(c["until"]) / 1000,
            status=CouponStatus(c["status"]),
            order=c["order"],
            claimed=int(c["claimed"]) / 1000,
        )


def coupon_key(keys: RoomKeys) -> str:
    """The room's coupon hash (coupon id -> JSON), for the KEYS of a script that uses
    ``coupon_lib``."""
    return keys.sub("coupons")


class MemoryCoupons:
    """The memory engine's claimed coupons, the twin of ``coupon_lib.lua``. Every method is
    synchronous, so a store calls ``use`` and ``give_back`` inside its own atomic step."""

    def __init__(self, emit: Callable[[str, str, dict[str, Any]], str]) -> None:
        self._emit = emit
        self._coupons: dict[str, dict[str, Coupon]] = {}

    def put(self, room: str, coupon: Coupon) -> None:
        """Store a newly claimed coupon (the coupons feature's claim)."""
        self._coupons.setdefault(room, {})[coupon.id] = coupon

    def get(self, room: str, coupon: str) -> Coupon | None:
        return self._coupons.get(room, {}).get(coupon)

    def in_room(self, room: str) -> list[Coupon]:
        return list(self._coupons.get(room, {}).values())

    def check(
        self, room: str, coupon: str, user: str, sku: str, gross: int, now: float
    ) -> tuple[CouponAnswer, int]:
        """``coupon_check``: whether ``user`` may use it now on an order of ``sku`` worth
        ``gross`` fen, and what it would take off: ``(answer, discount)``. Changes nothing."""
        found = self.get(room, coupon)
        if found is None:
            return CouponAnswer.UNKNOWN, 0
        answer = found.check(user, sku, gross, now)
        return answer, found.discount(gross) if answer is CouponAnswer.OK else 0

    def use(
        self, room: str, coupon: str, user: str, sku: str, gross: int, order: str, now: float
    ) -> tuple[CouponAnswer, int]:
        """``coupon_use``: ``(answer, discount)``; on ok the coupon is used by ``order`` and
        ``coupon.used`` is in the outbox."""
        answer, off = self.check(room, coupon, user, sku, gross, now)
        found = self.get(room, coupon)
        if answer is not CouponAnswer.OK or found is None:
            return answer, 0
        self.put(room, replace(found, status=CouponStatus.USED, order=order))
        self._emit(
            room,
            "coupon.used",
            {"coupon": coupon, "batch": found.batch, "user": user, "order": order, "discount": off},
        )
        return CouponAnswer.OK, off

    def give_back(self, room: str, coupon: str, order: str, reason: str) -> bool:
        """``coupon_return``: True when ``order`` (cancelled or expired: ``reason``) gave the
        coupon back in this call."""
        found = self.get(room, coupon)
        if found is None or found.status is not CouponStatus.USED or found.order != order:
            return False
        self.put(room, replace(found, status=CouponStatus.CLAIMED, order=""))
        self._emit(
            room,
            "coupon.returned",
            {
                "coupon": coupon,
                "batch": found.batch,
                "user": found.user,
                "order": order,
                "reason": reason,
            },
        )
        return True


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))
