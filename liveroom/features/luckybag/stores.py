"""``bag_store(engine)``: the lucky-bag store for the engine in use (memory or Redis)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveroom.features.luckybag.store import BagStore

if TYPE_CHECKING:
    from liveroom.engine.base import Engine, MemoryHost
    from liveroom.engine.redis_core import RedisCore


def bag_store(engine: Engine) -> BagStore:
    """The lucky-bag store for ``engine``: in its memory, or in its Redis. Each call builds a
    new store (the memory one empty), so a node builds one, in its ``LuckyBags`` feature."""
    return engine.store(memory=_memory, redis=_redis)


# The factories import their module only when called, so a node loads the one it runs. Their
# return types are the static check that each implementation satisfies ``BagStore``.


def _memory(host: MemoryHost) -> BagStore:
    from liveroom.features.luckybag.store_memory import MemoryBagStore

    return MemoryBagStore(host)


def _redis(core: RedisCore) -> BagStore:
    from liveroom.features.luckybag.store_redis import RedisBagStore

    return RedisBagStore(core)
