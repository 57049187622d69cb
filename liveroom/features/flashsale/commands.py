"""The flash-sale WebSocket commands, ``buy`` and ``cancel_order``, and the field checks they
share with the HTTP routes. Their handlers are the feature's (``FlashSaleFeature``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from liveroom.errors import CommandError, ErrorCode
from liveroom.features.flashsale.errors import SaleCode
from liveroom.features.flashsale.store import MAX_QUANTITY
from liveroom.protocol import OBJECT_ID, Command, RequestId, ident_field


def quantity_field(value: Any) -> int:
    """A buy's quantity: a whole number 1..MAX_QUANTITY, else ``invalid_quantity``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_QUANTITY:
        raise CommandError(
            SaleCode.INVALID_QUANTITY, f"quantity must be a whole number from 1 to {MAX_QUANTITY}"
        )
    return value


def request_id_field(value: Any) -> str:
    """The client's idempotency key: 1-64 of ``A-Z a-z 0-9 _ . -`` (an object id: no ``:``)."""
    if not isinstance(value, str) or not OBJECT_ID.fullmatch(value):
        raise CommandError(
            ErrorCode.BAD_REQUEST,
            "request_id is required: 1 to 64 letters, digits or _ . -",
        )
    return value


def coupon_field(value: Any) -> str:
    """A buy's optional coupon: absent, null or "" for none, else a coupon id."""
    if value is None or value == "":
        return ""
    return ident_field(value, "coupon", OBJECT_ID)


@dataclass(slots=True)
class Buy(Command):
    """Reserve ``quantity`` units, with ``coupon`` (one of the buyer's claimed coupons) off
    the price when given. Resending the same ``request_id`` never buys twice."""

    type: ClassVar[str] = "buy"
    sale: str = ""
    quantity: int = 1
    request_id: str = ""
    coupon: str = ""

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        return cls(
            rid,
            ident_field(body.get("sale"), "sale", OBJECT_ID),
            quantity_field(body.get("quantity", 1)),
            request_id_field(body.get("request_id")),
            coupon_field(body.get("coupon")),
        )


@dataclass(slots=True)
class CancelOrder(Command):
    """Give back one of the sender's reserved orders."""

    type: ClassVar[str] = "cancel_order"
    sale: str = ""
    order: str = ""

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        return cls(
            rid,
            ident_field(body.get("sale"), "sale", OBJECT_ID),
            ident_field(body.get("order"), "order", OBJECT_ID),
        )
