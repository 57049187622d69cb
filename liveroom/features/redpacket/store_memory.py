"""Red packets in this process's memory (see ``store.py`` for the contract).

Atomic the same way as ``MemoryEngine``: no method awaits between reading and writing, and
the business event of a change (``emit``: the memory engine's ``MemoryHost.emit_now``) is
appended in the same step. A packet is forgotten ``PACKET_TTL_S`` after it was made, as Redis
expires its keys: a process that runs for weeks does not keep every packet and grabber.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from liveroom.features.redpacket.store import (
    PACKET_TTL_S,
    Active,
    Audit,
    Closed,
    Grab,
    GrabResult,
    Tally,
)


@dataclass(slots=True)
class _Packet:
    meta: bytes
    total: int
    count: int
    keyword: str
    opens_at: float
    created: int
    left: deque[int]
    grabbed: dict[str, int] = field(default_factory=dict)
    said: set[str] = field(default_factory=set)
    tally: Tally = field(default_factory=Tally)
    closed_at: float = 0.0
    refund_fen: int = 0
    refunded: int = 0


#: the packets of a room that has none: read, never written
_NO_PACKETS: dict[str, _Packet] = {}


class MemoryPackets:
    """Satisfies ``PacketStore``."""

    def __init__(
        self,
        emit: Callable[[str, str, dict[str, Any]], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.emit = emit
        self.clock = clock
        self._rooms: dict[str, dict[str, _Packet]] = {}
        self._order = 0
        #: (when to forget it, room, packet) of every packet, in the order they were made, so
        #: the ones due are at the front (the lifetime is the same for all)
        self._expiry: deque[tuple[float, str, str]] = deque()

    def _room(self, room: str) -> dict[str, _Packet]:
        """The room's packets, to read (a room with none gets no table of its own)."""
        expiry = self._expiry
        if expiry and expiry[0][0] <= self.clock():
            self._forget_due()
        return self._rooms.get(room, _NO_PACKETS)

    def _forget_due(self) -> None:
        """Forget the packets past their lifetime, and the rooms they leave empty."""
        expiry, now = self._expiry, self.clock()
        while expiry and expiry[0][0] <= now:
            _, room, packet = expiry.popleft()
            packets = self._rooms.get(room)
            if packets is not None:
                packets.pop(packet, None)
                if not packets:
                    del self._rooms[room]

    async def create(
        self,
        room: str,
        packet: str,
        meta: bytes,
        amounts: list[int],
        keyword: str,
        opens_at: float,
    ) -> bool:
        packets = self._room(room)
        if packet in packets:
            return False
        if packets is _NO_PACKETS:
            packets = self._rooms[room] = {}
        self._order += 1
        packets[packet] = _Packet(
            meta=meta,
            total=sum(amounts),
            count=len(amounts),
            keyword=keyword,
            opens_at=opens_at,
            created=self._order,
            left=deque(amounts),
        )
        self._expiry.append((self.clock() + PACKET_TTL_S, room, packet))
        return True

    async def grab(self, room: str, packet: str, user: str, name: str, now: float) -> GrabResult:
        p = self._room(room).get(packet)
        if p is None:
            return GrabResult(Grab.NOT_FOUND)
        left = len(p.left)
        if user in p.grabbed:
            return GrabResult(Grab.ALREADY, p.grabbed[user], left, p.meta)
        if p.closed_at:
            return GrabResult(Grab.CLOSED, meta=p.meta)
        if now < p.opens_at:
            return GrabResult(Grab.NOT_STARTED, left=left, meta=p.meta)
        if not p.left:
            return GrabResult(Grab.GONE, meta=p.meta)
        if p.keyword and user not in p.said:
            return GrabResult(Grab.KEYWORD, left=left, meta=p.meta)
        amount = p.left.popleft()
        p.grabbed[user] = amount
        t = p.tally
        best = amount > t.best_fen
        p.tally = Tally(
            grabbed=t.grabbed + 1,
            grabbed_fen=t.grabbed_fen + amount,
            best_user=user if best else t.best_user,
            best_name=name if best else t.best_name,
            best_fen=amount if best else t.best_fen,
            first_at=t.first_at or now,
            last_at=now,
        )
        left -= 1
        self.emit(
            room,
            "packet.grabbed",
            {"packet": packet, "user": user, "amount_fen": amount, "left": left},
        )
        return GrabResult(Grab.OK, amount, left, p.meta, p.tally if left == 0 else None)

    async def close(self, room: str, packet: str, now: float) -> Closed | None:
        p = self._room(room).get(packet)
        if p is None:
            return None
        if p.closed_at:
            return Closed(p.meta, p.refund_fen, p.refunded, p.closed_at, p.tally, again=True)
        p.closed_at, p.refund_fen, p.refunded = now, sum(p.left), len(p.left)
        p.left.clear()
        self.emit(
            room,
            "packet.closed",
            {
                "packet": packet,
                "refund_fen": p.refund_fen,
                "refunded": p.refunded,
                "grabbed": p.tally.grabbed,
                "grabbed_fen": p.tally.grabbed_fen,
            },
        )
        return Closed(p.meta, p.refund_fen, p.refunded, now, p.tally)

    async def said(self, room: str, user: str, text: str) -> list[str]:
        unlocked = []
        for packet, p in self._room(room).items():
            if p.keyword and p.keyword == text and p.left and user not in p.said:
                p.said.add(user)
                unlocked.append(packet)
        return unlocked

    async def active(self, room: str) -> list[Active]:
        packets = sorted(self._room(room).values(), key=lambda p: p.created)
        return [Active(p.meta, len(p.left)) for p in packets if p.left]

    async def audit(self, room: str, packet: str) -> Audit | None:
        p = self._room(room).get(packet)
        if p is None:
            return None
        return Audit(
            meta=p.meta,
            total=p.total,
            count=p.count,
            grabbed=len(p.grabbed),
            grabbed_fen=sum(p.grabbed.values()),
            left=len(p.left),
            left_fen=sum(p.left),
            tally=p.tally,
            refund_fen=p.refund_fen,
            refunded=p.refunded,
            closed_at=p.closed_at,
        )

    async def grabbers(self, room: str, packet: str) -> dict[str, int]:
        p = self._room(room).get(packet)
        return dict(p.grabbed) if p is not None else {}
