"""Coupon WebSocket commands and their handlers; see docs/coupons.md.

``coupon_issue`` and ``coupon_close`` are the host's; ``coupon_claim`` and ``coupon_wallet``
a viewer's. Each handler calls the node's ``Coupons`` it closes over. The coupon a buy uses is
a field of the flash sale's ``buy`` (``coupon``), not a command of this feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from liveroom.protocol import OBJECT_ID, Command, RequestId, ident_field

if TYPE_CHECKING:
    from liveroom.connection.session import Session
    from liveroom.features import Handler
    from liveroom.features.coupons.actions import CouponActions


@dataclass(slots=True)
class IssueCoupons(Command):
    """Issue a batch; the body's fields are checked by ``rules.batch_from_body``."""

    type: ClassVar[str] = "coupon_issue"
    role: ClassVar[str] = "host"
    body: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        return cls(rid, {k: v for k, v in body.items() if k not in ("type", "id")})


@dataclass(slots=True)
class _OneBatch(Command):
    """A command about one batch, named by its id in ``batch``."""

    batch: str = ""

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        return cls(rid, ident_field(body.get("batch"), "batch", OBJECT_ID))


@dataclass(slots=True)
class ClaimCoupon(_OneBatch):
    type: ClassVar[str] = "coupon_claim"


@dataclass(slots=True)
class CloseCoupons(_OneBatch):
    type: ClassVar[str] = "coupon_close"
    role: ClassVar[str] = "host"


@dataclass(slots=True)
class CouponWallet(Command):
    """The sender's coupons in this room."""

    type: ClassVar[str] = "coupon_wallet"

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        return cls(rid)


def handlers(coupons: CouponActions) -> Mapping[type[Command], Handler]:
    """The command table of one node's coupon feature: each handler is bound to ``coupons``."""

    async def handle_coupon_issue(session: Session, command: IssueCoupons) -> dict[str, Any]:
        return await coupons.issue(session.room.id, command.body)

    async def handle_coupon_claim(session: Session, command: ClaimCoupon) -> dict[str, Any]:
        return await coupons.claim(session.room.id, command.batch, session.who.user)

    async def handle_coupon_close(session: Session, command: CloseCoupons) -> dict[str, Any]:
        return await coupons.close_batch(session.room.id, command.batch)

    async def handle_coupon_wallet(session: Session, command: CouponWallet) -> dict[str, Any]:
        return await coupons.wallet(session.room.id, session.who.user)

    return {
        IssueCoupons: handle_coupon_issue,
        ClaimCoupon: handle_coupon_claim,
        CloseCoupons: handle_coupon_close,
        CouponWallet: handle_coupon_wallet,
    }
