"""The kick store: who is kept out of each room, and until when.

``KickStore`` is the contract; ``MemoryKicks`` (``store_memory.py``) and ``RedisKicks``
(``store_redis.py``, with ``lua/kick.lua``) fulfil it, and the feature builds the one for its
engine (``kick_store``). ``tests/kicks/test_store.py`` runs one conformance suite against both.
Times are wall-clock seconds since the epoch; a kick whose end has passed is gone.
"""

from __future__ import annotations

from typing import Protocol


class KickStore(Protocol):
    async def kick(self, room: str, user: str, until: float) -> None:
        """Keep ``user`` out of ``room`` until ``until`` (replacing an earlier kick)."""
        ...

    async def unkick(self, room: str, user: str) -> None:
        """End ``user``'s kick from ``room`` now."""
        ...

    async def until(self, room: str, user: str) -> float | None:
        """When ``user``'s kick from ``room`` ends; None when not kicked."""
        ...

    async def kicked(self, room: str) -> dict[str, float]:
        """Every user kicked from ``room`` now, with when each kick ends."""
        ...
