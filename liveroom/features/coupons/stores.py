"""``coupon_store(engine)``: the coupon store for the engine in use (memory or Redis)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveroom.features.coupons.store import CouponStore

if TYPE_CHECKING:
    from liveroom.engine.base import Engine, MemoryHost
    from liveroom.engine.redis_core import RedisCore


def coupon_store(engine: Engine) -> CouponStore:
    """The coupon store for ``engine``: in its memory, or in its Redis. Each call builds a new
    store (the memory one empty; claimed coupons live in the engine's seam either way), so a
    node builds one, in its ``Coupons`` feature."""
    return engine.store(memory=_memory, redis=_redis)


# The factories import their module only when called, so a node loads the one it runs.


def _memory(host: MemoryHost) -> CouponStore:
    from liveroom.features.coupons.store_memory import MemoryCouponStore

    return MemoryCouponStore(lambda: host.clock(), host.emit_now, host.coupons)


def _redis(core: RedisCore) -> CouponStore:
    from liveroom.features.coupons.store_redis import RedisCouponStore

    return RedisCouponStore(core)
