"""Product cards on one node: ``ProductCards`` turns the store's answers into replies, room
events and funnel counts.

Every change publishes one ``cards`` room event holding the whole board and its version, so a
viewer never has to merge: it shows the board with the highest version it has seen.
"""

from __future__ import annotations

from typing import Any

import orjson

from liveroom.auth import Identity
from liveroom.context import NodeContext
from liveroom.errors import CommandError, ErrorCode
from liveroom.features.cards.commands import validate_card
from liveroom.features.cards.errors import CardCode
from liveroom.features.cards.store import Board, CardStore, Pin
from liveroom.protocol import kept, room_event_body

MAX_CARDS = 3  # pinned at once, as on the big platforms' live rooms


class ProductCards:
    """The pinned cards of every room, and their funnel counts."""

    def __init__(self, ctx: NodeContext, store: CardStore) -> None:
        self.ctx = ctx
        self.engine = ctx.engine
        self.store = store

    async def pin(
        self, room: str, body: dict[str, Any], who: Identity, replace: str = ""
    ) -> dict[str, Any]:
        """Pin, update or replace a card; every viewer gets the new board."""
        sku, card = validate_card(body)
        if "sale" in card:
            stock = await self._sale_stock(room, sku, card["sale"])
            if stock is not None:
                card["stock"] = stock
        card["pinned_at"] = self.ctx.now()
        board = await self.store.pin(room, sku, kept(orjson.dumps(card)), MAX_CARDS, replace)
        if board.status is Pin.FULL:
            raise CommandError(
                CardCode.CARDS_FULL,
                f"{MAX_CARDS} cards are pinned already; unpin or replace one",
                limit=MAX_CARDS,
            )
        if board.status is Pin.NOT_FOUND:
            raise CommandError(ErrorCode.NOT_FOUND, f"card {replace!r} is not pinned")
        if board.status is Pin.CONFLICT:
            raise CommandError(ErrorCode.CONFLICT, f"card {sku!r} is pinned in another slot")
        change = "replace" if replace and replace != sku else "pin"
        return await self._publish(room, board, change, sku)

    async def unpin(self, room: str, sku: str, who: Identity) -> dict[str, Any]:
        """Take one card down (``sku``) or all (``""``); every viewer gets the new board."""
        board = await self.store.unpin(room, sku)
        if board.status is Pin.NOT_FOUND:
            raise CommandError(ErrorCode.NOT_FOUND, f"card {sku!r} is not pinned")
        return await self._publish(room, board, "unpin", sku)

    async def click(self, room: str, user: str, sku: str) -> dict[str, Any]:
        """Count a click (and so a showing) once per user per card."""
        clicked, shown = await self.store.mark(room, user, [(sku, "clicked"), (sku, "shown")])
        if clicked < 0:
            raise CommandError(ErrorCode.NOT_FOUND, f"card {sku!r} is not pinned")
        self.ctx.analytics.card_clicked(room, user, sku)
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

    async def shown_on_join(self, room: str, user: str) -> None:
        """``user`` got the pinned cards in their snapshot: count each as shown once."""
        board = await self.store.board(room)
        if not board.cards:
            return
        skus = [orjson.loads(c)["sku"] for c in board.cards]
        counted = await self.store.mark(room, user, [(s, "shown") for s in skus])
        new = sum(1 for c in counted if c > 0)
        if new:
            await self.engine.incr(room, "card_shown", new)

    async def funnel(self, room: str) -> dict[str, Any]:
        return {"room": room, "cards": await self.store.funnel(room)}

    async def snapshot(self, room: str) -> dict[str, Any]:
        board = await self.store.board(room)
        return {
            "cards": [orjson.Fragment(c) for c in board.cards],
            "cards_version": board.version,
        }

    async def _sale_stock(self, room: str, sku: str, sale_id: str) -> int | None:
        """The linked flash sale's stock now; it must exist in the room and sell this sku.
        None when the node runs no flash sales."""
        sales = self.ctx.sales
        if sales is None:
            return None
        found = await sales.stock(room, sale_id)
        if found is None:
            raise CommandError(ErrorCode.NOT_FOUND, f"no flash sale {sale_id!r} in this room")
        sale_sku, stock = found
        if sale_sku != sku:
            raise CommandError(
                ErrorCode.CONFLICT, f"flash sale {sale_id!r} sells {sale_sku!r}, not {sku!r}"
            )
        return stock

    async def _publish(self, room: str, board: Board, change: str, sku: str) -> dict[str, Any]:
        cards = [orjson.Fragment(c) for c in board.cards]
        analytics = self.ctx.analytics
        if analytics.enabled:
            skus = [orjson.loads(c)["sku"] for c in board.cards]
            analytics.cards_shown(room, board.version, skus)
        await self.engine.publish(
            room,
            room_event_body(
                "cards", cards=cards, version=board.version, change=change, sku=sku or None
            ),
        )
        return {"cards": cards, "version": board.version}
