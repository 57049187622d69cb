"""``Kicks``: putting a user out of a room for a while, on every node, and keeping them out.

A kick is stored first (``KickStore``: the engine's memory, or Redis under the room's hash tag),
then announced to every connection of the user in the room, on every node, by the engine's
private path (``RoomBus.notify``): the ``kicked`` event, after which the hub closes each of
those connections with 4031 (``KicksFeature.closing_events``). From then until the kick ends
the handshake refuses the user in that room, fresh join or resume alike, with 4031 and a
``retry_after`` of the seconds left (``Kicks.kicked_until``, the ``RoomKicks`` seam).
"""

from __future__ import annotations

from collections.abc import Callable

from liveroom.engine.base import RoomBus
from liveroom.features.kicks.store import KickStore
from liveroom.protocol import event


class Kicks:
    """The node's kicks; ``kicked_until`` is what the handshake asks (``RoomKicks``)."""

    def __init__(self, store: KickStore, bus: RoomBus, now: Callable[[], float]) -> None:
        self.store = store
        self.bus = bus
        self.now = now

    async def kick(self, room: str, user: str, seconds: int) -> float:
        """Kick ``user`` out of ``room`` for ``seconds``: stored, then every connection of theirs
        in the room is told and closed. When the kick ends (epoch seconds). Raises
        ``EngineUnavailable`` (the kick may be stored already: sending it again is safe)."""
        until = self.now() + seconds
        await self.store.kick(room, user, until)
        await self.bus.notify(room, user, event("kicked", until=until, retry_after=seconds))
        return until

    async def unkick(self, room: str, user: str) -> None:
        """Let ``user`` back into ``room`` now."""
        await self.store.unkick(room, user)

    async def kicked(self, room: str) -> dict[str, float]:
        """The room's kicked users, each with when the kick ends (epoch seconds)."""
        return await self.store.kicked(room)

    async def kicked_until(self, room: str, user: str) -> float | None:
        """When ``user``'s kick from ``room`` ends; None when they may join."""
        return await self.store.until(room, user)
