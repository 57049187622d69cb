"""RedisCards: product cards in Redis, for the Redis engine through its ``RedisCore`` (see
``store.py`` for the contract).

Every step that reads and writes is one Lua script (this package's ``lua/card_*.lua``); all
keys share the room's hash tag, so each script runs in one Cluster slot. Key names::

    {prefix}:{room:<id>}:cards                    hash  sku -> card JSON
    {prefix}:{room:<id>}:cards:slots              zset  sku -> slot order
    {prefix}:{room:<id>}:cards:ver                int   board version
    {prefix}:{room:<id>}:cards:funnel             hash  "<sku>:shown|clicked" -> distinct users
    {prefix}:{room:<id>}:card:<sku>:shown|clicked set   users counted
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from liveroom.features.cards.store import Board, CardStore, Pin

if TYPE_CHECKING:
    from liveroom.engine.redis_core import RedisCore, RoomKeys


def _board(reply: list[Any]) -> Board:
    return Board(Pin(_text(reply[0])), int(reply[1]), [bytes(c) for c in reply[2:]])


class RedisCards:
    """Satisfies ``CardStore``."""

    def __init__(self, core: RedisCore) -> None:
        self.core = core

    def _keys(self, room: str) -> tuple[RoomKeys, list[str]]:
        k = self.core.keys(room)
        return k, [k.cards, k.sub("cards", "slots"), k.sub("cards", "ver")]

    async def pin(self, room: str, sku: str, card: bytes, limit: int, replace: str = "") -> Board:
        _, keys = self._keys(room)
        reply = await self.core.run(
            "card_pin", keys, [sku, card, limit, replace], package=__package__
        )
        return _board(reply)

    async def unpin(self, room: str, sku: str = "") -> Board:
        _, keys = self._keys(room)
        reply = await self.core.run("card_unpin", keys, [sku], package=__package__)
        return _board(reply)

    async def board(self, room: str) -> Board:
        _, keys = self._keys(room)
        reply = await self.core.run("card_board", keys, [], package=__package__)
        return _board(reply)

    async def mark(self, room: str, user: str, marks: list[tuple[str, str]]) -> list[int]:
        if not marks:
            return []
        k = self.core.keys(room)
        keys = [k.cards, k.sub("cards", "funnel")] + [k.sub("card", s, kind) for s, kind in marks]
        args: list[str] = [user]
        for sku, kind in marks:
            args += [sku, kind]
        reply = await self.core.run("card_mark", keys, args, package=__package__)
        return [int(v) for v in reply]

    async def funnel(self, room: str) -> dict[str, dict[str, int]]:
        async with self.core.guard():
            raw = await self.core.client.hgetall(self.core.keys(room).sub("cards", "funnel"))
        out: dict[str, dict[str, int]] = {}
        for name, value in raw.items():
            sku, _, kind = _text(name).rpartition(":")
            out.setdefault(sku, {"shown": 0, "clicked": 0})[kind] = int(value)
        return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


#: the static conformance check (mypy): a ``RedisCards`` is a ``CardStore``
_satisfies: Callable[[RedisCore], CardStore] = RedisCards
