"""The business-event feed: the outboxes delivered to the shop's backend. See ``docs/events.md``.

Every feature's store appends its business events (``order.reserved``, ``bag.drawn``, ...) to
the room's outbox in the same atomic step as the state change: that is the one seam, the
engine's outbox (``liveroom/engine/outbox.py``: ``MemoryHost.emit_now`` for the memory stores,
``RedisCore.outbox`` and ``outbox()`` of ``lua/outbox_lib.lua`` for the Redis scripts). No
feature imports this package; this package reads what they appended.

The package, by layer:

- ``source.py``: the ``FeedSource`` contract (lanes, leases, dead letter, trimming);
  ``source_memory.py`` and ``source_redis.py`` (with ``lua/feed_*.lua``) fulfil it;
- ``endpoints.py``: webhook endpoints and their checks (SSRF); ``signing.py``: Standard
  Webhooks signatures;
- ``delivery.py``: the ``Deliverer`` (workers per lane, retries, dead letter, trimming);
- ``routes.py``: the HTTP API (endpoints, dead letters, health); ``errors.py``: ``FeedCode``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from liveroom.context import NodeContext
from liveroom.features import Feature
from liveroom.features.events.delivery import Deliverer
from liveroom.features.events.endpoints import from_env
from liveroom.features.events.errors import FeedCode
from liveroom.features.events.routes import FeedRoutes
from liveroom.features.events.source import FeedSource

if TYPE_CHECKING:
    from liveroom.engine.base import Engine, MemoryHost
    from liveroom.engine.redis_core import RedisCore

__all__ = ["Feed", "feed_source"]


def feed_source(engine: Engine) -> FeedSource:
    """The feed's view of ``engine``'s outboxes."""

    def memory(host: MemoryHost) -> FeedSource:
        from liveroom.features.events.source_memory import MemoryFeedSource

        return MemoryFeedSource(host.outbox, lambda: host.clock())

    def redis(core: RedisCore) -> FeedSource:
        from liveroom.features.events.source_redis import RedisFeedSource

        return RedisFeedSource(core)

    return engine.store(memory=memory, redis=redis)


class Feed(Feature):
    """Delivers the node's share of the outboxes by webhook and serves the feed's API."""

    name = "events"
    error_codes = (FeedCode,)

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        s = ctx.settings
        self.source = feed_source(ctx.engine)
        self.deliverer = Deliverer(
            self.source,
            s,
            owner=f"{s.node_id}-{os.getpid()}",
            env_endpoints=from_env(s.feed_endpoints, s.feed_allow_loopback),
        )
        self.source.watch(self.deliverer.kick)

    async def open(self) -> None:
        await self.deliverer.open()

    async def close(self) -> None:
        await self.deliverer.close()

    def routes(self) -> list[BaseRoute]:
        return FeedRoutes(self.deliverer, self.source).routes()
