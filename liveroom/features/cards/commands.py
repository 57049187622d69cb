"""The product-card WebSocket commands (``card_pin``, ``card_unpin``, ``card_click``,
``card_view``) and the card checks they share with the HTTP routes. Their handlers are the
feature's (``Cards``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from liveroom.errors import CommandError, ErrorCode
from liveroom.protocol import OBJECT_ID, Command, RequestId, ident_field, int_field

MAX_PRICE_FEN = 100_000_000
IMAGE_MAX = 500  # characters of an image URL, its scheme included
IMAGE_URL = re.compile(r"\A(?:https?://|/)\S+\Z")


def validate_card(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Check a card from a command or request body; return its sku and its public fields."""
    sku = ident_field(body.get("sku"), "sku", OBJECT_ID)
    title = body.get("title")
    if not isinstance(title, str) or not 0 < len(title.strip()) <= 60:
        raise CommandError(ErrorCode.BAD_REQUEST, "title is 1 to 60 characters")
    price = int_field(body.get("price"), "price", 0, MAX_PRICE_FEN)
    image = body.get("image")
    if not isinstance(image, str) or len(image) > IMAGE_MAX or not IMAGE_URL.fullmatch(image):
        raise CommandError(
            ErrorCode.BAD_REQUEST, f"image is an http(s) URL or a /path of {IMAGE_MAX} characters"
        )
    card: dict[str, Any] = {"sku": sku, "title": title.strip(), "price": price, "image": image}
    reminder = body.get("reminder")
    if reminder is not None:
        if not isinstance(reminder, str) or len(reminder) > 20:
            raise CommandError(ErrorCode.BAD_REQUEST, "reminder is up to 20 characters")
        if reminder:
            card["reminder"] = reminder
    if body.get("stock") is not None:
        card["stock"] = int_field(body["stock"], "stock", 0, 100_000_000)
    if body.get("sale") is not None:
        card["sale"] = ident_field(body["sale"], "sale", OBJECT_ID)
    return sku, card


def replace_field(body: dict[str, Any]) -> str:
    """The sku a pin replaces (``replace``), or "" to take a free slot."""
    value = body.get("replace")
    return "" if value is None else ident_field(value, "replace", OBJECT_ID)


@dataclass(slots=True)
class PinCard(Command):
    type: ClassVar[str] = "card_pin"
    role: ClassVar[str] = "host"
    body: dict[str, Any] | None = None

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        validate_card(body)
        replace_field(body)
        return cls(rid, body)


@dataclass(slots=True)
class UnpinCard(Command):
    type: ClassVar[str] = "card_unpin"
    role: ClassVar[str] = "host"
    sku: str = ""  # "" with ``all``: every card

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        if body.get("all") is True:
            return cls(rid, "")
        return cls(rid, ident_field(body.get("sku"), "sku", OBJECT_ID))


@dataclass(slots=True)
class ClickCard(Command):
    type: ClassVar[str] = "card_click"
    sku: str = ""

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        return cls(rid, ident_field(body.get("sku"), "sku", OBJECT_ID))


@dataclass(slots=True)
class ViewCard(Command):
    type: ClassVar[str] = "card_view"
    sku: str = ""

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        return cls(rid, ident_field(body.get("sku"), "sku", OBJECT_ID))
