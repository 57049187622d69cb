"""Red-packet state shared by every node: the ``PacketStore`` protocol;
``stores.packet_store(engine)`` builds the implementation for the engine in use
(``store_memory.py``, and ``store_redis.py`` with one Lua script per atomic step);
``tests/redpacket`` runs one conformance suite against both.

The store keeps packet metadata as opaque JSON bytes made by the feature, so the bytes a viewer
receives are encoded once, on the node that created the packet.

Times are epoch seconds, as floats, cut to a whole millisecond (``whole_ms``) by the caller:
Redis keeps them as integer milliseconds, and the Redis store converts at its boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    pass


#: a packet is forgotten this long after it was made, on either engine: Redis expires its keys,
#: the memory store drops it
PACKET_TTL_S = 3 * 86400


def whole_ms(t: float) -> float:
    """``t`` (epoch seconds) cut down to its millisecond: the grain of every time a packet
    records, on either engine."""
    return int(t * 1000) / 1000


class Grab(StrEnum):
    """The answer to one grab."""

    OK = "ok"
    NOT_FOUND = "not_found"
    NOT_STARTED = "not_started"
    ALREADY = "already"  # this user holds one of the packets already (its amount comes back)
    GONE = "gone"  # every packet has been taken
    KEYWORD = "keyword"  # a keyword packet, and this user has not commented the keyword
    CLOSED = "closed"  # the host closed it; the packets left went back (see ``Closed``)


@dataclass(frozen=True, slots=True)
class GrabResult:
    """``amount`` in fen for OK and ALREADY; ``left`` packets after this grab.

    ``meta`` is the packet's JSON (absent for NOT_FOUND). When this grab took the last packet,
    ``summary`` holds the tally for the room's announcement: exactly one grab gets it.
    """

    status: Grab
    amount: int = 0
    left: int = 0
    meta: bytes = b""
    summary: Tally | None = None


@dataclass(frozen=True, slots=True)
class Tally:
    """What has been grabbed from one packet so far; ``first_at`` and ``last_at`` are the
    times of the first and the latest grab (0 before any)."""

    grabbed: int = 0  # packets taken
    grabbed_fen: int = 0
    best_user: str = ""
    best_name: str = ""
    best_fen: int = 0
    first_at: float = 0.0
    last_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Closed:
    """A packet closed by the host: the packets nobody had grabbed went back.

    ``refund_fen`` and ``refunded`` (packets) are what the close took back, recorded once:
    closing again gives the same record with ``again`` set. ``tally`` is what was grabbed.
    """

    meta: bytes
    refund_fen: int
    refunded: int
    closed_at: float
    tally: Tally
    again: bool = False


@dataclass(frozen=True, slots=True)
class Audit:
    """Money check for one packet: ``grabbed_fen + left_fen + refund_fen`` must equal ``total``.

    ``grabbed_fen`` is summed from the per-user record, ``left_fen`` from the packets not yet
    taken, both in the same atomic read; ``tally`` is the running count kept by the grabs.
    ``refund_fen`` is what a close took back (0 and ``closed_at`` 0 while it is not closed).
    """

    meta: bytes
    total: int
    count: int
    grabbed: int
    grabbed_fen: int
    left: int
    left_fen: int
    tally: Tally
    refund_fen: int = 0
    refunded: int = 0
    closed_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Active:
    """A packet with packets left, for snapshots."""

    meta: bytes
    left: int


class PacketStore(Protocol):
    """Red packets: amounts split up front, one atomic pop per grab, one grab per user."""

    async def create(
        self,
        room: str,
        packet: str,
        meta: bytes,
        amounts: list[int],
        keyword: str,
        opens_at: float,
    ) -> bool:
        """Store a packet. ``meta`` is its public JSON; ``amounts`` the pre-split packets in fen.

        Grabs succeed from ``opens_at`` on. A non-empty ``keyword`` makes grabbing need an
        earlier ``said`` of it. False when the id is taken.
        """
        ...

    async def grab(self, room: str, packet: str, user: str, name: str, now: float) -> GrabResult:
        """Take one packet for ``user``, atomically: window open, first grab, keyword said."""
        ...

    async def close(self, room: str, packet: str, now: float) -> Closed | None:
        """Take back the packets not grabbed yet, atomically, and refuse grabs from then on
        (``Grab.CLOSED``). None when there is no such packet."""
        ...

    async def said(self, room: str, user: str, text: str) -> list[str]:
        """``user`` commented ``text``: ids of open keyword packets it unlocked for them."""
        ...

    async def active(self, room: str) -> list[Active]:
        """Packets of the room with packets left, oldest first."""
        ...

    async def audit(self, room: str, packet: str) -> Audit | None:
        """The money check for one packet, or None when there is no such packet."""
        ...

    async def grabbers(self, room: str, packet: str) -> dict[str, int]:
        """Who grabbed how much (fen)."""
        ...
