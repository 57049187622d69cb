"""The private-traffic WebSocket commands (``follow``, ``unfollow``, ``book``) and the card
check the HTTP routes use. Parsed and checked here; answered by the feature (no I/O).

The commands are open to anonymous viewers on purpose: they get ``login_required`` from the
feature, a clearer answer than the session's ``read_only``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from liveroom.errors import CommandError
from liveroom.features.private.errors import PrivateCode
from liveroom.protocol import Command

#: the cards a host configures: the community invite (after a follow) and the customer-service
#: contact (after a paid order)
CARD_KINDS = ("invite", "service")
MESSAGE_MAX = 200
URL_MAX = 500
LINK_URL = re.compile(r"\Ahttps?://\S+\Z")
IMAGE_URL = re.compile(r"\A(?:https?://|/)\S+\Z")


def validate_card(body: Any) -> dict[str, Any]:
    """A card from a request body: ``message`` (1 to 200 characters) and a ``link`` (an
    http(s) URL) or an ``image`` (a QR code: an http(s) URL or a /path), or both. Raises
    ``bad_card``."""
    if not isinstance(body, dict):
        raise CommandError(PrivateCode.BAD_CARD, "a card is a JSON object")
    unknown = set(body) - {"message", "link", "image"}
    if unknown:
        raise CommandError(PrivateCode.BAD_CARD, f"unknown card field {sorted(unknown)[0]!r}")
    message = body.get("message")
    if not isinstance(message, str) or not 0 < len(message.strip()) <= MESSAGE_MAX:
        raise CommandError(PrivateCode.BAD_CARD, f"message is 1 to {MESSAGE_MAX} characters")
    card: dict[str, Any] = {"message": message.strip()}
    for field, pattern in (("link", LINK_URL), ("image", IMAGE_URL)):
        value = body.get(field)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or len(value) > URL_MAX or not pattern.fullmatch(value):
            raise CommandError(
                PrivateCode.BAD_CARD,
                f"{field} is an http(s) URL of up to {URL_MAX} characters"
                + (" (or a /path)" if field == "image" else ""),
            )
        card[field] = value
    if "link" not in card and "image" not in card:
        raise CommandError(PrivateCode.BAD_CARD, "a card needs a link or an image (or both)")
    return card


@dataclass(slots=True)
class Follow(Command):
    """Follow the room's host (idempotent). The invite card, if set, follows privately."""

    type: ClassVar[str] = "follow"
    anonymous: ClassVar[bool] = True


@dataclass(slots=True)
class Unfollow(Command):
    type: ClassVar[str] = "unfollow"
    anonymous: ClassVar[bool] = True


@dataclass(slots=True)
class Book(Command):
    """Book the room's scheduled live (idempotent): the backend hears when it starts."""

    type: ClassVar[str] = "book"
    anonymous: ClassVar[bool] = True
