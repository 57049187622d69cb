"""Group buys (拼团): the feature a node runs. See ``docs/groupbuy.md``.

The package, by layer:

- ``store.py``: the ``DealStore`` contract, its records and the audit; ``store_memory.py`` and
  ``store_redis.py`` (with ``lua/*.lua``) fulfil it;
- ``service.py``: ``GroupBuy``, the store's answers turned into replies and room events;
- ``commands.py`` (WebSocket) and ``routes.py`` (HTTP): what clients send;
- ``errors.py`` (``GroupCode``) and ``settings.py`` (``GroupSettings``).

``GroupBuyFeature`` builds them for one node and runs the sweeper that fails unfilled groups and
expires unpaid orders.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute

from liveroom.context import NodeContext
from liveroom.errors import EngineUnavailable
from liveroom.features import Feature, Handler
from liveroom.features.groupbuy.commands import (
    CancelGroupOrder,
    JoinGroup,
    MatchGroup,
    StartGroup,
    TakePlace,
)
from liveroom.features.groupbuy.errors import GroupCode
from liveroom.features.groupbuy.routes import DealRoutes
from liveroom.features.groupbuy.service import GroupBuy
from liveroom.features.groupbuy.settings import GroupSettings
from liveroom.features.groupbuy.store import DealStore
from liveroom.protocol import Command
from liveroom.tasks import stop

if TYPE_CHECKING:
    from liveroom.connection.session import Session
    from liveroom.engine.base import Engine, MemoryHost
    from liveroom.engine.redis_core import RedisCore

log = logging.getLogger("liveroom.groupbuy")

__all__ = ["GroupBuy", "GroupBuyFeature", "GroupCode", "deal_store"]


def deal_store(engine: Engine) -> DealStore:
    """The deal store for ``engine``: in its memory, or in its Redis. Each call builds a new
    store (the memory one empty), so a node builds one, in its ``GroupBuyFeature``."""

    def memory(host: MemoryHost) -> DealStore:
        from liveroom.features.groupbuy.store_memory import MemoryDealStore

        return MemoryDealStore(lambda: host.clock(), host.emit_now, host.coupons)

    def redis(core: RedisCore) -> DealStore:
        from liveroom.features.groupbuy.store_redis import RedisDealStore

        return RedisDealStore(core)

    return engine.store(memory=memory, redis=redis)


class GroupBuyFeature(Feature):
    """Plugs group buys into a node: commands, routes, snapshot part and the sweeper.
    ``groups`` is the node's ``GroupBuy``."""

    name = "groupbuy"
    critical_events = frozenset({b"deal", b"group_formed", b"group_failed"})
    error_codes = (GroupCode,)

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.settings = GroupSettings.of(ctx.settings)
        self.groups = GroupBuy(
            ctx.engine,
            deal_store(ctx.engine),
            self.settings,
            lambda: ctx.analytics,
            ctx.order_paid,
        )
        self._sweeper: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="liveroom-group-sweeper")

    async def close(self) -> None:
        await stop([self._sweeper])
        await self.groups.shutdown()

    async def _sweep_loop(self) -> None:
        """Every node sweeps; the store's script decides which sweep fails a group or expires
        an order."""
        while True:
            await asyncio.sleep(self.settings.sweep_interval_s)
            try:
                await self.groups.sweep()
            except EngineUnavailable:
                pass
            except Exception:
                log.exception("group sweep failed")

    def commands(self) -> Mapping[type[Command], Handler]:
        return {
            StartGroup: self.handle_take_place,
            JoinGroup: self.handle_take_place,
            MatchGroup: self.handle_take_place,
            CancelGroupOrder: self.handle_cancel_group_order,
        }

    def routes(self) -> list[BaseRoute]:
        return DealRoutes(self.groups, self.settings).routes()

    async def snapshot(self, room: str) -> dict[str, Any]:
        return await self.groups.snapshot(room)

    # ------------------------------------------------------------------ handlers

    async def handle_take_place(self, session: Session, command: TakePlace) -> dict[str, Any]:
        return await self.groups.take(
            session.room.id,
            command.deal,
            command.mode,
            session.who.user,
            session.who.name,
            command.quantity,
            command.request_id,
            command.group,
            command.coupon,
        )

    async def handle_cancel_group_order(
        self, session: Session, command: CancelGroupOrder
    ) -> dict[str, Any]:
        return await self.groups.cancel(
            session.room.id, command.deal, command.order, session.who.user
        )
