"""Shared state behind the rooms: the ``Engine`` protocols (``base``), the embedded memory engine
(``memory``), the Redis engine (``redis``, with ``redis_shards`` for a cluster's sharded pub/sub),
and ``redis_core``, the Redis plumbing every store shares. Nothing here knows a feature."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from liveroom.engine.base import Engine


def engine_from_settings(settings: Any) -> Engine:
    """Pick the engine from the settings, importing only the one in use."""
    if settings.engine == "memory":
        from liveroom.engine.memory import MemoryEngine

        return MemoryEngine(settings)
    if settings.engine == "redis":
        from liveroom.engine.redis import RedisEngine

        return RedisEngine(settings)
    raise ValueError(f"unknown engine {settings.engine!r}")
