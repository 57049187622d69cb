"""The seams the connection layer shares with the rooms, stats and kicks features:
``RoomDirectory``, ``RoomSnapshots``, ``ViewerJoins`` and ``RoomKicks``. ``liveroom.context``
offers them to features, and the node's ``rooms``, ``stats`` and ``kicks`` satisfy them
(``connection.session.ConnectionHost``)."""

from __future__ import annotations

from typing import Any, Protocol


class RoomDirectory(Protocol):
    """Room settings, as the rooms feature keeps them (``liveroom.features.rooms``)."""

    async def info(self, room: str) -> dict[str, Any]:
        """The room's settings, defaults filled in. Raises ``EngineUnavailable``."""
        ...

    async def update(self, room: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge validated ``changes`` into the room's settings; the new settings."""
        ...


class RoomSnapshots(RoomDirectory, Protocol):
    """What the connection layer asks of the rooms feature: a room's settings, and the
    snapshot a joining viewer gets (every feature's ``snapshot`` part included)."""

    async def snapshot(
        self, room: str, *, reset: bool = False, version: int = 0
    ) -> tuple[int, str, bytes]:
        """The offset the snapshot reflects, that offset's epoch, and the snapshot event. Joins
        within one tick may share one build (same ``version``, the room's count of state
        events); ``reset`` builds afresh."""
        ...


class ViewerJoins(Protocol):
    """What the connection layer tells the stats feature (``liveroom.features.stats``)."""

    async def viewer_joined(self, room: str, user: str) -> None:
        """``user`` joined ``room``, fresh or resuming (counted once per user: unique viewers)."""


class RoomKicks(Protocol):
    """What the handshake asks the kicks feature (``liveroom.features.kicks``) on every join and
    every resume."""

    async def kicked_until(self, room: str, user: str) -> float | None:
        """When ``user``'s kick from ``room`` ends (epoch seconds); None when they may join.
        Raises ``EngineUnavailable``."""
        ...
