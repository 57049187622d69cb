"""Group buys (拼团): the feature a node runs. See ``docs/groupbuy.md``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveroom.features.groupbuy.store import DealStore

if TYPE_CHECKING:
    from liveroom.engine.base import Engine, MemoryHost
    from liveroom.engine.redis_core import RedisCore


def deal_store(engine: Engine) -> DealStore:
    """The deal store for ``engine``: in its memory, or in its Redis. Each call builds a new
    store (the memory one empty), so a node builds one, in its ``GroupBuyFeature``."""

    def memory(host: MemoryHost) -> DealStore:
        from liveroom.features.groupbuy.store_memory import MemoryDealStore

        return MemoryDealStore(lambda: host.clock(), host.emit_now)

    def redis(core: RedisCore) -> DealStore:
        from liveroom.features.groupbuy.store_redis import RedisDealStore

        return RedisDealStore(core)

    return engine.store(memory=memory, redis=redis)
