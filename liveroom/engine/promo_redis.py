"""Product cards and red packets in Redis (see ``promo.py`` for the contract).

Every step that reads and writes is one Lua script (``lua/card_*.lua``, ``lua/packet_*.lua``);
all keys share the room's hash tag, so each script runs in one Cluster slot. Key names::

    {prefix}:{room:<id>}:cards                    hash  sku -> card JSON
    {prefix}:{room:<id>}:cards:slots              zset  sku -> slot order
    {prefix}:{room:<id>}:cards:ver                int   board version
    {prefix}:{room:<id>}:cards:funnel             hash  "<sku>:shown|clicked" -> distinct users
    {prefix}:{room:<id>}:card:<sku>:shown|clicked set   users counted
    {prefix}:{room:<id>}:packets                  hash  id -> public JSON
    {prefix}:{room:<id>}:packets:left             hash  id -> packets left
    {prefix}:{room:<id>}:packets:active           zset  id -> creation order (ids with packets left)
    {prefix}:{room:<id>}:packets:kw               hash  keyword -> ids of open keyword packets
    {prefix}:{room:<id>}:packets:said             hash  "<id>:<user>" -> 1 (keyword commented)
    {prefix}:{room:<id>}:packet:<id>:amounts      list  the packets not yet taken, fen
    {prefix}:{room:<id>}:packet:<id>:grabbed      hash  user -> fen
    {prefix}:{room:<id>}:packet:<id>:tally        hash  rules and running totals

Packet keys expire ``PACKET_TTL_S`` after the packet is created.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from liveroom.engine.promo import Active, Audit, Board, Closed, Grab, GrabResult, Pin, Tally

if TYPE_CHECKING:
    from liveroom.engine.redis_core import RedisCore, RoomKeys

PACKET_TTL_S = 3 * 86400


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
        async with self.core.guard():
            reply = await self.core.scripts.run("card_pin", keys, [sku, card, limit, replace])
        return _board(reply)

    async def unpin(self, room: str, sku: str = "") -> Board:
        _, keys = self._keys(room)
        async with self.core.guard():
            reply = await self.core.scripts.run("card_unpin", keys, [sku])
        return _board(reply)

    async def board(self, room: str) -> Board:
        _, keys = self._keys(room)
        async with self.core.guard():
            reply = await self.core.scripts.run("card_board", keys, [])
        return _board(reply)

    async def mark(self, room: str, user: str, marks: list[tuple[str, str]]) -> list[int]:
        if not marks:
            return []
        k = self.core.keys(room)
        keys = [k.cards, k.sub("cards", "funnel")] + [k.sub("card", s, kind) for s, kind in marks]
        args: list[str] = [user]
        for sku, kind in marks:
            args += [sku, kind]
        async with self.core.guard():
            reply = await self.core.scripts.run("card_mark", keys, args)
        return [int(v) for v in reply]

    async def funnel(self, room: str) -> dict[str, dict[str, int]]:
        async with self.core.guard():
            raw = await self.core.client.hgetall(self.core.keys(room).sub("cards", "funnel"))
        out: dict[str, dict[str, int]] = {}
        for name, value in raw.items():
            sku, _, kind = _text(name).rpartition(":")
            out.setdefault(sku, {"shown": 0, "clicked": 0})[kind] = int(value)
        return out


class RedisPackets:
    """Satisfies ``PacketStore``."""

    def __init__(self, core: RedisCore) -> None:
        self.core = core

    def _packet_keys(self, room: str, packet: str) -> list[str]:
        """KEYS of ``packet_create`` and ``packet_close``: the room-wide four of
        ``packet_lib.lua``, then the packet's amounts list and tally hash."""
        k = self.core.keys(room)
        return [
            k.packets,
            k.sub("packets", "left"),
            k.sub("packets", "active"),
            k.sub("packets", "kw"),
            k.sub("packet", packet, "amounts"),
            k.sub("packet", packet, "tally"),
        ]

    async def create(
        self,
        room: str,
        packet: str,
        meta: bytes,
        amounts: list[int],
        keyword: str,
        open_ms: int,
    ) -> bool:
        keys = self._packet_keys(room, packet)
        args: list[Any] = [packet, meta, keyword, open_ms, PACKET_TTL_S, *amounts]
        async with self.core.guard():
            return bool(await self.core.scripts.run("packet_create", keys, args))

    async def grab(self, room: str, packet: str, user: str, name: str, now_ms: int) -> GrabResult:
        k = self.core.keys(room)
        keys = [
            k.packets,
            k.sub("packets", "left"),
            k.sub("packets", "active"),
            k.sub("packets", "kw"),
            k.sub("packets", "said"),
            k.sub("packet", packet, "amounts"),
            k.sub("packet", packet, "grabbed"),
            k.sub("packet", packet, "tally"),
        ]
        async with self.core.guard():
            reply = await self.core.scripts.run("packet_grab", keys, [packet, user, name, now_ms])
        status = Grab(_text(reply[0]))
        summary = _tally(reply[4:11]) if len(reply) > 4 else None
        return GrabResult(
            status, int(reply[1]), int(reply[2]), bytes(reply[3]) if reply[3] else b"", summary
        )

    async def close(self, room: str, packet: str, now_ms: int) -> Closed | None:
        keys = self._packet_keys(room, packet)
        async with self.core.guard():
            reply = await self.core.scripts.run("packet_close", keys, [packet, now_ms])
        if not reply:
            return None
        return Closed(
            meta=bytes(reply[0]),
            refund_fen=int(reply[1]),
            refunded=int(reply[2]),
            closed_ms=int(reply[3]),
            tally=_tally(reply[5:12]),
            again=bool(int(reply[4])),
        )

    async def said(self, room: str, user: str, text: str) -> list[str]:
        k = self.core.keys(room)
        async with self.core.guard():
            reply = await self.core.scripts.run(
                "packet_said",
                [k.sub("packets", "kw"), k.sub("packets", "said")],
                [user, text, PACKET_TTL_S],
            )
        return [_text(i) for i in reply]

    async def active(self, room: str) -> list[Active]:
        k = self.core.keys(room)
        async with self.core.guard():
            reply = await self.core.scripts.run(
                "packet_active",
                [
                    k.packets,
                    k.sub("packets", "left"),
                    k.sub("packets", "active"),
                    k.sub("packets", "kw"),
                ],
                [int(time.time() * 1000), PACKET_TTL_S],
            )
        return [Active(bytes(reply[i]), int(reply[i + 1])) for i in range(0, len(reply), 2)]

    async def audit(self, room: str, packet: str) -> Audit | None:
        k = self.core.keys(room)
        keys = [
            k.packets,
            k.sub("packet", packet, "amounts"),
            k.sub("packet", packet, "grabbed"),
            k.sub("packet", packet, "tally"),
        ]
        async with self.core.guard():
            reply = await self.core.scripts.run("packet_audit", keys, [packet])
        if not reply:
            return None
        return Audit(
            meta=bytes(reply[0]),
            total=int(reply[1]),
            count=int(reply[2]),
            grabbed=int(reply[3]),
            grabbed_fen=int(reply[4]),
            left=int(reply[5]),
            left_fen=int(reply[6]),
            tally=_tally(reply[7:14]),
            refund_fen=int(reply[14]),
            refunded=int(reply[15]),
            closed_ms=int(reply[16]),
        )

    async def grabbers(self, room: str, packet: str) -> dict[str, int]:
        key = self.core.keys(room).sub("packet", packet, "grabbed")
        async with self.core.guard():
            raw = await self.core.client.hgetall(key)
        return {_text(u): int(v) for u, v in raw.items()}


def _tally(v: list[Any]) -> Tally:
    return Tally(
        grabbed=int(v[0] or 0),
        grabbed_fen=int(v[1] or 0),
        best_user=_text(v[2] or b""),
        best_name=_text(v[3] or b""),
        best_fen=int(v[4] or 0),
        first_ms=int(v[5] or 0),
        last_ms=int(v[6] or 0),
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
