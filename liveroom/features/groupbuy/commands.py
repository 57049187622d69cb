"""The group-buy WebSocket commands (``start_group``, ``join_group``, ``match_group``,
``cancel_group_order``) and the field checks they share with the HTTP routes. Their handlers
are the feature's (``GroupBuyFeature``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from liveroom.errors import CommandError, ErrorCode
from liveroom.features.groupbuy.errors import GroupCode
from liveroom.features.groupbuy.store import MAX_QUANTITY, Mode
from liveroom.protocol import OBJECT_ID, Command, RequestId, ident_field


def quantity_field(value: Any) -> int:
    """Units one place holds: a whole number 1..MAX_QUANTITY, else ``bad_quantity``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_QUANTITY:
        raise CommandError(
            GroupCode.BAD_QUANTITY, f"quantity must be a whole number from 1 to {MAX_QUANTITY}"
        )
    return value


def coupon_field(value: Any) -> str:
    """A place's optional coupon: absent, null or "" for none, else a coupon id."""
    if value is None or value == "":
        return ""
    return ident_field(value, "coupon", OBJECT_ID)


def request_id_field(value: Any) -> str:
    """The client's idempotency key: 1-64 of ``A-Z a-z 0-9 _ . -``."""
    if not isinstance(value, str) or not OBJECT_ID.fullmatch(value):
        raise CommandError(
            ErrorCode.BAD_REQUEST, "request_id is required: 1 to 64 letters, digits or _ . -"
        )
    return value


@dataclass(slots=True)
class TakePlace(Command):
    """A place in a group of ``deal``, with ``coupon`` (one of the sender's claimed coupons)
    off its order when given; resending the same ``request_id`` never takes two."""

    mode: ClassVar[Mode] = Mode.START
    deal: str = ""
    quantity: int = 1
    request_id: str = ""
    group: str = ""
    coupon: str = ""

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        group = ident_field(body.get("group"), "group", OBJECT_ID) if cls.mode is Mode.JOIN else ""
        return cls(
            rid,
            ident_field(body.get("deal"), "deal", OBJECT_ID),
            quantity_field(body.get("quantity", 1)),
            request_id_field(body.get("request_id")),
            group,
            coupon_field(body.get("coupon")),
        )


@dataclass(slots=True)
class StartGroup(TakePlace):
    """Start a new group of the deal, with the sender as its first member."""

    type: ClassVar[str] = "start_group"
    mode: ClassVar[Mode] = Mode.START


@dataclass(slots=True)
class JoinGroup(TakePlace):
    """Join the open group ``group`` (from a share link, say)."""

    type: ClassVar[str] = "join_group"
    mode: ClassVar[Mode] = Mode.JOIN


@dataclass(slots=True)
class MatchGroup(TakePlace):
    """Join the fullest open group of the deal the sender is not in yet."""

    type: ClassVar[str] = "match_group"
    mode: ClassVar[Mode] = Mode.MATCH


@dataclass(slots=True)
class CancelGroupOrder(Command):
    """Give back one of the sender's unpaid group orders."""

    type: ClassVar[str] = "cancel_group_order"
    deal: str = ""
    order: str = ""

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        return cls(
            rid,
            ident_field(body.get("deal"), "deal", OBJECT_ID),
            ident_field(body.get("order"), "order", OBJECT_ID),
        )
