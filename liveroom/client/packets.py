"""``lr.packets``: red packets, a total split at random into packets viewers grab.
See ``docs/redpacket.md``.
"""

from __future__ import annotations

import builtins

from liveroom.client.http import Http, Json, fields

PACKET = "/api/rooms/{room}/packets/{packet}"


class RedPackets:
    """Create, grab and close red packets; read their money check."""

    def __init__(self, http: Http) -> None:
        self._http = http

    async def create(
        self,
        room: str,
        *,
        total: int,
        count: int,
        keyword: str | None = None,
        title: str | None = None,
        delay_s: int | None = None,
    ) -> Json:
        """Split ``total`` fen into ``count`` packets (each at least 1 fen) and put them in the
        room; returns the packet's public state (``id``, ``state``, ``left``, ``open_at``).

        With ``keyword`` only viewers who commented it may grab (口令红包); ``delay_s``
        delays the opening. Not idempotent: each call makes a new red packet.
        """
        body = fields(total=total, count=count, keyword=keyword, title=title, delay_s=delay_s)
        answer: Json = await self._http.call(
            "POST", "/api/rooms/{room}/packets", body, key="packet", room=room
        )
        return answer

    async def list(self, room: str) -> builtins.list[Json]:
        """The room's red packets that still have packets left, oldest first."""
        packets = await self._http.call(
            "GET", "/api/rooms/{room}/packets", key="packets", room=room
        )
        return [dict(p) for p in packets]

    async def get(self, room: str, packet: str) -> Json:
        """The host's view: ``{packet, audit, summary, grabbers}``; ``audit["balanced"]`` is
        true when grabbed + left + refunded fen equal the total."""
        answer: Json = await self._http.call("GET", PACKET, room=room, packet=packet)
        return answer

    async def grab(self, room: str, packet: str, *, user: str, name: str | None = None) -> Json:
        """Grab one packet for ``user``: ``{packet, amount, left}`` (fen). One per user:
        ``Conflict`` with ``already_grabbed`` (their ``amount`` in ``details``),
        ``all_grabbed``, ``ended`` or ``not_started``; ``Forbidden`` with
        ``keyword_required`` before the user commented the keyword. A retry after a
        ``NetworkError`` cannot grab twice."""
        answer: Json = await self._http.call(
            "POST", PACKET + "/grab", fields(user=user, name=name), room=room, packet=packet
        )
        return answer

    async def close(self, room: str, packet: str) -> Json:
        """Close the red packet early: what nobody grabbed is taken back, once. Returns
        ``{packet, summary, refund}``, ``refund`` = ``{fen, packets}`` for the shop to pay
        back to the host; closing again answers the same record."""
        answer: Json = await self._http.call("POST", PACKET + "/close", room=room, packet=packet)
        return answer
