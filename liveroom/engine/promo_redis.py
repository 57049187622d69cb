"""Red packets in Redis (see ``promo.py`` for the contract).

Every step that reads and writes is one Lua script (``lua/packet_*.lua``); all keys share the
room's hash tag, so each script runs in one Cluster slot. Key names::

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

from liveroom.engine.promo import Active, Audit, Closed, Grab, GrabResult, Tally

if TYPE_CHECKING:
    from liveroom.engine.redis_core import RedisCore

PACKET_TTL_S = 3 * 86400


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
