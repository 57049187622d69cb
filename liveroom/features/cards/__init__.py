"""Product cards (讲解卡): the host pins up to three products; viewers see and click them.

Every change publishes one ``cards`` room event holding the whole board and its version, so a
viewer never has to merge: it shows the board with the highest version it has seen. Late
joiners get the same in their snapshot (``cards``, ``cards_version``).

Funnel, counted once per user per card for the room's whole live (see ``docs/cards.md``):

- shown: the user was sent the card in their join snapshot, or their client reported it on
  screen (``card_view``), or they clicked it;
- clicked: the user clicked it (``card_click``).

Live stock: a card may name the flash sale selling its sku (``sale``); pinning checks that sale
and copies its stock into the card, read through the ``liveroom.context.SaleStock`` seam. From
then on viewers follow the stock by sku from what the flash sale already sends them (the
snapshot's ``sales``, ``sale`` and ``sold_out`` events), so the card is not republished on every
stock change.

The package: ``store.py`` (the ``CardStore`` contract), ``store_memory.py``, ``store_redis.py``
with ``lua/card_*.lua``; ``service.py`` (``ProductCards``); ``commands.py`` (WebSocket),
``routes.py`` (HTTP), ``errors.py`` (``CardCode``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute

from liveroom.context import NodeContext
from liveroom.features import Feature, Handler
from liveroom.features.cards.commands import (
    ClickCard,
    PinCard,
    UnpinCard,
    ViewCard,
    replace_field,
)
from liveroom.features.cards.errors import CardCode
from liveroom.features.cards.routes import CardRoutes
from liveroom.features.cards.service import ProductCards
from liveroom.features.cards.store import CardStore
from liveroom.protocol import Command

if TYPE_CHECKING:
    from liveroom.connection.session import Session
    from liveroom.engine.base import Engine, MemoryHost
    from liveroom.engine.redis_core import RedisCore

__all__ = ["CardCode", "Cards", "ProductCards", "card_store"]


def card_store(engine: Engine) -> CardStore:
    """The card store for ``engine``: in its memory, or in its Redis. Each call builds a new
    store (the memory one empty), so a node builds one, in its ``Cards`` feature."""

    def memory(host: MemoryHost) -> CardStore:
        from liveroom.features.cards.store_memory import MemoryCards

        return MemoryCards()

    def redis(core: RedisCore) -> CardStore:
        from liveroom.features.cards.store_redis import RedisCards

        return RedisCards(core)

    return engine.store(memory=memory, redis=redis)


class Cards(Feature):
    """Plugs product cards into a node: commands, routes, the snapshot's board, and the
    "shown" count of the cards a joining viewer sees. ``cards`` is the node's
    ``ProductCards``."""

    name = "cards"
    error_codes = (CardCode,)

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.cards = ProductCards(ctx, card_store(ctx.engine))

    def commands(self) -> Mapping[type[Command], Handler]:
        return {
            PinCard: self.handle_card_pin,
            UnpinCard: self.handle_card_unpin,
            ClickCard: self.handle_card_click,
            ViewCard: self.handle_card_view,
        }

    def routes(self) -> list[BaseRoute]:
        return CardRoutes(self.cards).routes()

    async def snapshot(self, room: str) -> dict[str, Any]:
        return await self.cards.snapshot(room)

    async def joined(self, session: Session) -> None:
        """The snapshot showed this viewer the pinned cards: count each as shown once."""
        if session.who.anonymous:
            return
        await self.cards.shown_on_join(session.room.id, session.who.user)

    # ------------------------------------------------------------------ handlers

    async def handle_card_pin(self, session: Session, command: PinCard) -> dict[str, Any]:
        body = command.body or {}
        return await self.cards.pin(session.room.id, body, session.who, replace_field(body))

    async def handle_card_unpin(self, session: Session, command: UnpinCard) -> dict[str, Any]:
        return await self.cards.unpin(session.room.id, command.sku, session.who)

    async def handle_card_click(self, session: Session, command: ClickCard) -> dict[str, Any]:
        return await self.cards.click(session.room.id, session.who.user, command.sku)

    async def handle_card_view(self, session: Session, command: ViewCard) -> dict[str, Any]:
        return await self.cards.view(session.room.id, session.who.user, command.sku)
