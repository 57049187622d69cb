"""Product cards (讲解卡): the host pins up to three products; viewers see and click them.

Every change publishes one ``cards`` room event holding the whole board and its version, so a
viewer never has to merge: it shows the board with the highest version it has seen. Late
joiners get the same in their snapshot (``cards``, ``cards_version``).

Funnel, counted once per user per card for the room's whole live (see ``docs/cards.md``):

- shown: the user was sent the card in their join snapshot, or their client reported it on
  screen (``card_view``), or they clicked it;
- clicked: the user clicked it (``card_click``).

Live stock: a card may name the flash sale selling its sku (``sale``); pinning checks that sale
and copies its stock into the card. From then on viewers follow the stock by sku from what the
flash sale already sends them (the snapshot's ``sales``, ``sale`` and ``sold_out`` events), so
the card is not republished on every stock change.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from liveroom.api import acting_for, endpoint, path_id, read_json
from liveroom.auth import Identity
from liveroom.connection.session import Session
from liveroom.engine.promo import Board, CardStore, Pin, cards_of
from liveroom.errors import CommandError, ErrorCode
from liveroom.features import Feature, find
from liveroom.protocol import (
    OBJECT_ID,
    Command,
    ident_field,
    int_field,
    register,
    room_event_body,
)

if TYPE_CHECKING:
    from liveroom.app import Node

MAX_CARDS = 3  # pinned at once, as on the big platforms' live rooms
MAX_PRICE_FEN = 100_000_000
IMAGE_URL = re.compile(r"^(https?://|/)\S{1,500}$")


def validate_card(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Check a card from a command or request body; return its sku and its public fields."""
    sku = ident_field(body.get("sku"), "sku", OBJECT_ID)
    title = body.get("title")
    if not isinstance(title, str) or not 0 < len(title.strip()) <= 60:
        raise CommandError(ErrorCode.BAD_REQUEST, "title is 1 to 60 characters")
    price = int_field(body.get("price"), "price", 0, MAX_PRICE_FEN)
    image = body.get("image")
    if not isinstance(image, str) or not IMAGE_URL.match(image):
        raise CommandError(ErrorCode.BAD_REQUEST, "image is an http(s) URL or a /path")
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


def _replace(body: dict[str, Any]) -> str:
    value = body.get("replace")
    return "" if value is None else ident_field(value, "replace", OBJECT_ID)


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class PinCard(Command):
    type: ClassVar[str] = "card_pin"
    role: ClassVar[str] = "host"
    body: dict[str, Any] | None = None

    @classmethod
    def parse(cls, rid: str, body: dict[str, Any]) -> Command:
        validate_card(body)
        _replace(body)
        return cls(rid, body)


@dataclass(frozen=True, slots=True)
class UnpinCard(Command):
    type: ClassVar[str] = "card_unpin"
    role: ClassVar[str] = "host"
    sku: str = ""  # "" with ``all``: every card

    @classmethod
    def parse(cls, rid: str, body: dict[str, Any]) -> Command:
        if body.get("all") is True:
            return cls(rid, "")
        return cls(rid, ident_field(body.get("sku"), "sku", OBJECT_ID))


@dataclass(frozen=True, slots=True)
class ClickCard(Command):
    type: ClassVar[str] = "card_click"
    sku: str = ""

    @classmethod
    def parse(cls, rid: str, body: dict[str, Any]) -> Command:
        return cls(rid, ident_field(body.get("sku"), "sku", OBJECT_ID))


@dataclass(frozen=True, slots=True)
class ViewCard(Command):
    type: ClassVar[str] = "card_view"
    sku: str = ""

    @classmethod
    def parse(cls, rid: str, body: dict[str, Any]) -> Command:
        return cls(rid, ident_field(body.get("sku"), "sku", OBJECT_ID))


register(PinCard, UnpinCard, ClickCard, ViewCard)


# --------------------------------------------------------------------------- the feature


class Cards(Feature):
    """Pinned product cards of every room, through ``engine.cards``."""

    name = "cards"

    def __init__(self, node: Node) -> None:
        self.node = node
        self.engine = node.engine
        self.store: CardStore = cards_of(node.engine)

    async def pin(
        self, room: str, body: dict[str, Any], who: Identity, replace: str = ""
    ) -> dict[str, Any]:
        """Pin, update or replace a card; every viewer gets the new board."""
        sku, card = validate_card(body)
        if "sale" in card:
            stock = await self._sale_stock(room, sku, card["sale"])
            if stock is not None:
                card["stock"] = stock
        card["pinned_at"] = time.time()
        board = await self.store.pin(room, sku, orjson.dumps(card), MAX_CARDS, replace)
        if board.status is Pin.FULL:
            raise CommandError(
                ErrorCode.CARDS_FULL,
                f"{MAX_CARDS} cards are pinned already; unpin or replace one",
                limit=MAX_CARDS,
            )
        if board.status is Pin.NOT_FOUND:
            raise CommandError(ErrorCode.NOT_FOUND, f"card {replace!r} is not pinned")
        if board.status is Pin.CONFLICT:
            raise CommandError(ErrorCode.CONFLICT, f"card {sku!r} is pinned in another slot")
        change = "replace" if replace and replace != sku else "pin"
        return await self._publish(room, board, change, sku, who)

    async def unpin(self, room: str, sku: str, who: Identity) -> dict[str, Any]:
        """Take one card down (``sku``) or all (``""``); every viewer gets the new board."""
        board = await self.store.unpin(room, sku)
        if board.status is Pin.NOT_FOUND:
            raise CommandError(ErrorCode.NOT_FOUND, f"card {sku!r} is not pinned")
        return await self._publish(room, board, "unpin", sku, who)

    async def click(self, room: str, user: str, sku: str) -> dict[str, Any]:
        """Count a click (and so a showing) once per user per card."""
        clicked, shown = await self.store.mark(room, user, [(sku, "clicked"), (sku, "shown")])
        if clicked < 0:
            raise CommandError(ErrorCode.NOT_FOUND, f"card {sku!r} is not pinned")
        if clicked:
            await self.engine.incr(room, "card_clicks")
        if shown > 0:
            await self.engine.incr(room, "card_shown")
        return {"sku": sku, "counted": bool(clicked)}

    async def view(self, room: str, user: str, sku: str) -> dict[str, Any]:
        """The user's client has the card on screen: count a showing once per user per card."""
        (shown,) = await self.store.mark(room, user, [(sku, "shown")])
        if shown < 0:
            raise CommandError(ErrorCode.NOT_FOUND, f"card {sku!r} is not pinned")
        if shown:
            await self.engine.incr(room, "card_shown")
        return {"sku": sku, "counted": bool(shown)}

    async def funnel(self, room: str) -> dict[str, Any]:
        return {"room": room, "cards": await self.store.funnel(room)}

    async def _sale_stock(self, room: str, sku: str, sale_id: str) -> int | None:
        """The linked flash sale's stock now; it must exist in the room and sell this sku."""
        sales = getattr(self.engine, "sales", None)
        if sales is None:
            return None
        sale = await sales.get(room, sale_id)
        if sale is None:
            raise CommandError(ErrorCode.NOT_FOUND, f"no flash sale {sale_id!r} in this room")
        if sale.sku != sku:
            raise CommandError(
                ErrorCode.CONFLICT, f"flash sale {sale_id!r} sells {sale.sku!r}, not {sku!r}"
            )
        return int(sale.stock)

    async def _publish(
        self, room: str, board: Board, change: str, sku: str, who: Identity
    ) -> dict[str, Any]:
        cards = [orjson.Fragment(c) for c in board.cards]
        await self.engine.publish(
            room,
            room_event_body(
                "cards", cards=cards, version=board.version, change=change, sku=sku or None
            ),
        )
        return {"cards": cards, "version": board.version}

    # ------------------------------------------------------------------ hooks

    async def snapshot(self, room: str) -> dict[str, Any]:
        board = await self.store.board(room)
        return {
            "cards": [orjson.Fragment(c) for c in board.cards],
            "cards_version": board.version,
        }

    async def joined(self, session: Session) -> None:
        """The snapshot showed this viewer the pinned cards: count each as shown once."""
        if session.who.anonymous:
            return
        board = await self.store.board(session.room.id)
        if not board.cards:
            return
        skus = [orjson.loads(c)["sku"] for c in board.cards]
        counted = await self.store.mark(
            session.room.id, session.who.user, [(s, "shown") for s in skus]
        )
        new = sum(1 for c in counted if c > 0)
        if new:
            await self.engine.incr(session.room.id, "card_shown", new)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/rooms/{room}/cards", get_cards, methods=["GET"]),
            Route("/api/rooms/{room}/cards", post_card, methods=["POST"]),
            Route("/api/rooms/{room}/cards", delete_cards, methods=["DELETE"]),
            Route("/api/rooms/{room}/cards/funnel", get_funnel, methods=["GET"]),
            Route("/api/rooms/{room}/cards/{sku}", delete_card, methods=["DELETE"]),
            Route("/api/rooms/{room}/cards/{sku}/click", post_click, methods=["POST"]),
        ]


def setup(node: Node) -> Cards:
    return Cards(node)


def _feature(node: Node) -> Cards:
    return find(node, Cards)


# --------------------------------------------------------------------------- WebSocket


@Session.handles(PinCard)
async def handle_card_pin(session: Session, command: PinCard) -> dict[str, Any]:
    body = command.body or {}
    return await _feature(session.node).pin(session.room.id, body, session.who, _replace(body))


@Session.handles(UnpinCard)
async def handle_card_unpin(session: Session, command: UnpinCard) -> dict[str, Any]:
    return await _feature(session.node).unpin(session.room.id, command.sku, session.who)


@Session.handles(ClickCard)
async def handle_card_click(session: Session, command: ClickCard) -> dict[str, Any]:
    return await _feature(session.node).click(session.room.id, session.who.user, command.sku)


@Session.handles(ViewCard)
async def handle_card_view(session: Session, command: ViewCard) -> dict[str, Any]:
    return await _feature(session.node).view(session.room.id, session.who.user, command.sku)


# --------------------------------------------------------------------------- HTTP


def _sku(request: Request) -> str:
    return path_id(request, "sku", "sku")


@endpoint(role="viewer")
async def get_cards(request: Request, node: Node, who: Identity) -> Any:
    """The room's pinned product cards.
    ---
    responses:
      "200":
        description: the pinned cards, newest first, and the board version
        content: {application/json: {schema: {type: object, required: [cards, version]}}}
    """
    board = await _feature(node).store.board(request.path_params["room"])
    return {"cards": [orjson.Fragment(c) for c in board.cards], "version": board.version}


@endpoint(role="host")
async def post_card(request: Request, node: Node, who: Identity) -> Any:
    """Pin a product card (three at most; ``replace`` names one to unpin).
    ---
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [sku, title, price, image]
            properties:
              sku: {type: string, pattern: "^[A-Za-z0-9_.-]{1,64}$"}
              title: {type: string, minLength: 1, maxLength: 60}
              price: {type: integer, minimum: 0, maximum: 100000000, description: in fen}
              image: {type: string, description: "an http(s) URL or a /path"}
              reminder: {type: string, maxLength: 20}
              stock: {type: integer, minimum: 0, maximum: 100000000}
              sale: {type: string, pattern: "^[A-Za-z0-9_.-]{1,64}$", description: its sale}
              replace: {type: string, pattern: "^[A-Za-z0-9_.-]{1,64}$", description: to unpin}
    responses:
      "200":
        description: the board after the pin
        content: {application/json: {schema: {type: object}}}
    """
    body = await read_json(request)
    return await _feature(node).pin(request.path_params["room"], body, who, _replace(body))


@endpoint(role="host")
async def delete_card(request: Request, node: Node, who: Identity) -> Any:
    """Unpin one card.
    ---
    responses:
      "200":
        description: the board after the unpin
        content: {application/json: {schema: {type: object}}}
    """
    return await _feature(node).unpin(request.path_params["room"], _sku(request), who)


@endpoint(role="host")
async def delete_cards(request: Request, node: Node, who: Identity) -> Any:
    """Unpin every card.
    ---
    responses:
      "200":
        description: the empty board
        content: {application/json: {schema: {type: object}}}
    """
    return await _feature(node).unpin(request.path_params["room"], "", who)


@endpoint(role="viewer")
async def post_click(request: Request, node: Node, who: Identity) -> Any:
    """Count a click on a card for the funnel (once per user and card).
    ---
    requestBody:
      required: false
      content:
        application/json:
          schema:
            type: object
            properties:
              # backend (API key) only: the user the call is for, and its display name
              user: {type: string, pattern: "^[A-Za-z0-9_.:@-]{1,64}$"}
              name: {type: string, minLength: 1, maxLength: 64}
    responses:
      "200":
        description: whether this click counted
        content: {application/json: {schema: {type: object, required: [sku, counted]}}}
    """
    room = request.path_params["room"]
    user = acting_for(who, await read_json(request), room).user
    return await _feature(node).click(room, user, _sku(request))


@endpoint(role="host")
async def get_funnel(request: Request, node: Node, who: Identity) -> Any:
    """Views and clicks per card: the room's product funnel.
    ---
    responses:
      "200":
        description: the funnel
        content: {application/json: {schema: {type: object, required: [room, cards]}}}
    """
    return await _feature(node).funnel(request.path_params["room"])
