"""Flash sales (秒杀): the feature a node runs. See ``docs/flashsale.md``.

The package, by layer:

- ``store.py``: the ``SaleStore`` contract, its records and the audit; ``store_memory.py`` and
  ``store_redis.py`` (with ``lua/sale_*.lua`` and the engine's ``Batcher``) fulfil it;
- ``service.py``: ``FlashSale``, the store's answers turned into replies and room events;
- ``commands.py`` (WebSocket) and ``routes.py`` (HTTP): what clients send;
- ``errors.py`` (``SaleCode``) and ``settings.py`` (``SaleSettings``).

``FlashSaleFeature`` builds them for one node and runs the expiry sweeper and the funnel count.
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
from liveroom.features.flashsale.commands import Buy, CancelOrder
from liveroom.features.flashsale.errors import SaleCode
from liveroom.features.flashsale.routes import SaleRoutes
from liveroom.features.flashsale.service import FUNNEL_FLUSH_S, FlashSale
from liveroom.features.flashsale.settings import SaleSettings
from liveroom.features.flashsale.store import SaleStore
from liveroom.protocol import Command
from liveroom.tasks import stop

if TYPE_CHECKING:
    from liveroom.connection.session import Session
    from liveroom.engine.base import Engine, MemoryHost
    from liveroom.engine.redis_core import RedisCore

log = logging.getLogger("liveroom.flashsale")

__all__ = ["FlashSale", "FlashSaleFeature", "SaleCode", "sale_store"]


def sale_store(engine: Engine) -> SaleStore:
    """The sale store for ``engine``: in its memory, or in its Redis. Each call builds a new
    store (the memory one empty), so a node builds one, in its ``FlashSaleFeature``."""

    def memory(host: MemoryHost) -> SaleStore:
        from liveroom.features.flashsale.store_memory import MemorySaleStore

        return MemorySaleStore(lambda: host.clock(), host.emit_now, host.coupons)

    def redis(core: RedisCore) -> SaleStore:
        from liveroom.features.flashsale.store_redis import RedisSaleStore

        return RedisSaleStore(core)

    return engine.store(memory=memory, redis=redis)


class FlashSaleFeature(Feature):
    """Plugs flash sales into a node: commands, routes, snapshot part, the expiry sweeper and
    the buy funnel's count. ``sales`` is the node's ``FlashSale``."""

    name = "flashsale"
    critical_events = frozenset({b"sale", b"sold_out"})
    error_codes = (SaleCode,)

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.settings = SaleSettings.of(ctx.settings)
        self.sales = FlashSale(
            ctx.engine,
            sale_store(ctx.engine),
            self.settings,
            ctx.now,
            lambda: ctx.analytics,
            ctx.order_paid,
        )
        self._sweeper: asyncio.Task[None] | None = None
        self._counter: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="liveroom-sale-sweeper")
        self._counter = asyncio.create_task(self._count_loop(), name="liveroom-sale-funnel")

    async def close(self) -> None:
        await stop([self._sweeper, self._counter])
        await self.sales.shutdown()

    async def _sweep_loop(self) -> None:
        """Every node sweeps; the store's script decides which sweep releases an order."""
        while True:
            await asyncio.sleep(self.settings.sweep_interval_s)
            try:
                await self.sales.sweep()
            except EngineUnavailable:
                pass
            except Exception:
                log.exception("sale sweep failed")

    async def _count_loop(self) -> None:
        while True:
            await asyncio.sleep(FUNNEL_FLUSH_S)
            try:
                await self.sales.count_tries()
            except EngineUnavailable:
                pass  # count_tries kept the rooms it could not count for the next round
            except Exception:
                log.exception("buy funnel count failed")

    def commands(self) -> Mapping[type[Command], Handler]:
        return {Buy: self.handle_buy, CancelOrder: self.handle_cancel_order}

    def routes(self) -> list[BaseRoute]:
        return SaleRoutes(self.sales, self.settings).routes()

    async def snapshot(self, room: str) -> dict[str, Any]:
        return await self.sales.snapshot(room)

    # ------------------------------------------------------------------ handlers

    async def handle_buy(self, session: Session, command: Buy) -> dict[str, Any]:
        return await self.sales.buy(
            session.room.id,
            command.sale,
            session.who.user,
            session.who.name,
            command.quantity,
            command.request_id,
            command.coupon,
        )

    async def handle_cancel_order(self, session: Session, command: CancelOrder) -> dict[str, Any]:
        return await self.sales.cancel(
            session.room.id, command.sale, command.order, session.who.user
        )
