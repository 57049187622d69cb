"""MemoryKicks: kicks in this process's memory, for the memory engine (see ``store.py``)."""

from __future__ import annotations

from collections.abc import Callable


class MemoryKicks:
    """Satisfies ``KickStore``. ``clock`` is the memory engine's (wall seconds)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._rooms: dict[str, dict[str, float]] = {}

    async def kick(self, room: str, user: str, until: float) -> None:
        self._rooms.setdefault(room, {})[user] = until

    async def unkick(self, room: str, user: str) -> None:
        self._rooms.get(room, {}).pop(user, None)

    async def until(self, room: str, user: str) -> float | None:
        kicks = self._rooms.get(room)
        end = kicks.get(user) if kicks else None
        if end is None:
            return None
        if end <= self.clock():
            del kicks[user]  # type: ignore[union-attr]
            return None
        return end

    async def kicked(self, room: str) -> dict[str, float]:
        now = self.clock()
        kicks = self._rooms.get(room, {})
        for user in [u for u, end in kicks.items() if end <= now]:
            del kicks[user]
        return dict(kicks)
