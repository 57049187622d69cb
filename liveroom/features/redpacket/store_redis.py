"""Red packets in Redis (see ``store.py`` for the contract).

Every step that reads and writes is one Lua script (``lua/packet_*.lua`` of this package, each
with ``packet_lib.lua`` in front); all keys share the room's hash tag, so each script runs in
one Cluster slot. Key names::

    {prefix}:{room:<id>}:packets                  hash  id -> public JSON
    {prefix}:{room:<id>}:packets:left             hash  id -> packets left
    {prefix}:{room:<id>}:packets:active           zset  id -> creation order (ids with packets left)
    {prefix}:{room:<id>}:packets:kw               hash  keyword -> ids of open keyword packets
    {prefix}:{room:<id>}:packets:said             hash  "<id>:<user>" -> 1 (keyword commented)
    {prefix}:{room:<id>}:packet:<id>:amounts      list  the packets not yet taken, fen
    {prefix}:{room:<id>}:packet:<id>:grabbed      hash  user -> fen
    {prefix}:{room:<id>}:packet:<id>:tally        hash  rules and running totals

Packet keys expire ``PACKET_TTL_S`` after the packet is created. The scripts keep times as
integer milliseconds; this module converts from and to the store's seconds (``_ms``, ``_s``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from liveroom.features.redpacket.store import (
    PACKET_TTL_S,
    Active,
    Audit,
    Closed,
    Grab,
    GrabResult,
    Tally,
)

if TYPE_CHECKING:
    from liveroom.engine.redis_core import RedisCore

__all__ = ["PACKET_TTL_S", "RedisPackets"]


class RedisPackets:
    """Satisfies ``PacketStore``."""

    def __init__(self, core: RedisCore) -> None:
        self.core = core

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self.core.run(name, keys, args, package=__package__)

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
        opens_at: float,
    ) -> bool:
        keys = self._packet_keys(room, packet)
        args: list[Any] = [packet, meta, keyword, _ms(opens_at), PACKET_TTL_S, *amounts]
        return bool(await self._run("packet_create", keys, args))

    async def grab(self, room: str, packet: str, user: str, name: str, now: float) -> GrabResult:
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
            await self.core.outbox(room),
        ]
        reply = await self._run("packet_grab", keys, [packet, user, name, _ms(now)])
        status = Grab(_text(reply[0]))
        summary = _tally(reply[4:11]) if len(reply) > 4 else None
        return GrabResult(
            status, int(reply[1]), int(reply[2]), bytes(reply[3]) if reply[3] else b"", summary
        )

    async def close(self, room: str, packet: str, now: float) -> Closed | None:
        keys = [*self._packet_keys(room, packet), await self.core.outbox(room)]
        reply = await self._run("packet_close", keys, [packet, _ms(now)])
        if not reply:
            return None
        return Closed(
            meta=bytes(reply[0]),
            refund_fen=int(reply[1]),
            refunded=int(reply[2]),
            closed_at=_s(reply[3]),
            tally=_tally(reply[5:12]),
            again=bool(int(reply[4])),
        )

    async def said(self, room: str, user: str, text: str) -> list[str]:
        k = self.core.keys(room)
        reply = await self._run(
            "packet_said",
            [k.sub("packets", "kw"), k.sub("packets", "said")],
            [user, text, PACKET_TTL_S],
        )
        return [_text(i) for i in reply]

    async def active(self, room: str) -> list[Active]:
        k = self.core.keys(room)
        reply = await self._run(
            "packet_active",
            [
                k.packets,
                k.sub("packets", "left"),
                k.sub("packets", "active"),
                k.sub("packets", "kw"),
            ],
            # the store's own clock: it only decides which packets have outlived their keys
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
        reply = await self._run("packet_audit", keys, [packet])
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
            closed_at=_s(reply[16]),
        )

    async def grabbers(self, room: str, packet: str) -> dict[str, int]:
        key = self.core.keys(room).sub("packet", packet, "grabbed")
        async with self.core.guard():
            raw = await self.core.client.hgetall(key)
        return {_text(u): int(v) for u, v in raw.items()}


def _ms(seconds: float) -> int:
    """Epoch seconds (on a whole millisecond, ``store.whole_ms``) as the scripts' integer ms."""
    return round(seconds * 1000)


def _s(ms: Any) -> float:
    """A script's integer ms (0, empty or absent: never) as epoch seconds."""
    return int(ms or 0) / 1000


def _tally(v: list[Any]) -> Tally:
    return Tally(
        grabbed=int(v[0] or 0),
        grabbed_fen=int(v[1] or 0),
        best_user=_text(v[2] or b""),
        best_name=_text(v[3] or b""),
        best_fen=int(v[4] or 0),
        first_at=_s(v[5]),
        last_at=_s(v[6]),
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
