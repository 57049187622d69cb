"""``packet_store(engine)``: the red-packet store for the engine in use (memory or Redis)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from liveroom.features.redpacket.store import PacketStore

if TYPE_CHECKING:
    from liveroom.engine.base import Engine, MemoryHost
    from liveroom.engine.redis_core import RedisCore


def packet_store(engine: Engine) -> PacketStore:
    """The red-packet store for ``engine``: in its memory, or in its Redis. Each call builds a
    new store (the memory one empty), so a node builds one, in its ``RedPackets`` feature."""
    return engine.store(memory=_memory, redis=_redis)


# The factories import their module only when called, so a node loads the one it runs. Their
# return types are the static check that each implementation satisfies ``PacketStore``.


def _memory(host: MemoryHost) -> PacketStore:
    from liveroom.features.redpacket.store_memory import MemoryPackets

    return MemoryPackets(host.emit_now, host.clock)


def _redis(core: RedisCore) -> PacketStore:
    from liveroom.features.redpacket.store_redis import RedisPackets

    return RedisPackets(core)
