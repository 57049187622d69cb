"""The private-traffic store: who follows each host, the hosts' cards, and bookings of a room's
next live.

``PrivateStore`` is the contract; ``MemoryPrivateStore`` (``store_memory.py``) and
``RedisPrivateStore`` (``store_redis.py``, one Lua script per atomic step) fulfil it, and the
feature builds the one for its engine (``private_store``). ``tests/private/test_store.py`` runs
one conformance suite against both.

Two kinds of owner hold the state:

- a **host** (``host_scope``): the followers of a host, and the cards a host sets for all its
  rooms, live under the scope ``host.<host id>``: on Redis its own hash tag
  ``{room:host.<host>}``, one Cluster slot apart from any room's, with its own outbox (room ids
  never hold a ``.``, so no room shares it). A room without a ``host`` setting is its own host:
  its scope is the room itself.
- a **room**: its own cards, the paid orders already offered the service card, and its
  bookings, under the room's hash tag ``{room:<id>}`` next to the room's settings, which the
  booking steps read in the same atomic step (a booking and the room's start never cross).

Each method is one atomic step; the ones that change what a shop's backend must hear append
their event (``user.followed``, ``user.unfollowed``, ``room.booked``, ``room.started``) in that
same step.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from liveroom.protocol import OBJECT_ID

#: bookings one ``announce`` call turns into events; the caller calls again for the rest
ANNOUNCE_BATCH = 500
#: a booking room leaves the sweepers' index only when its round is done and it was last
#: scheduled at least this long ago (the index and the room sit in different Cluster slots)
INDEX_GRACE_S = 60.0
#: how long a room remembers the paid orders it offered the service card after its last offer
#: (a repeated confirm comes within minutes, not weeks): Redis expires the set, the memory store
#: drops it
OFFERED_TTL_S = 7 * 86400


def host_scope(room: str, host: Any) -> str | None:
    """The scope of ``room``'s host: ``host.<host>`` for a room whose ``host`` setting is an
    id (letters, digits, ``_ . -``), the room itself when it has none; None when the setting
    cannot name a scope (a ``:`` would split the event ids of its outbox)."""
    if host is None or host == "":
        return room
    if isinstance(host, str) and OBJECT_ID.fullmatch(host):
        return f"host.{host}"
    return None


class Booking(StrEnum):
    """What a booking, or scheduling the next live, answers."""

    OK = "ok"
    NOT_SCHEDULED = "not_scheduled"  # no upcoming live in the room
    ROOM_LIVE = "room_live"  # the room is live now
    ROOM_ENDED = "room_ended"  # the scheduled live has come and gone
    BUSY = "busy"  # the last round's bookings are still being announced


class Round(StrEnum):
    """A room's booking round: OPEN (scheduled, taking bookings) → STARTED (the room went live:
    every booking is announced once)."""

    OPEN = "open"
    STARTED = "started"


@dataclass(frozen=True, slots=True)
class Followed:
    """The answer to a follow or unfollow: ``changed`` is False when the user already was (or
    was not) a follower; ``followers`` is the host's count after it."""

    changed: bool
    followers: int


@dataclass(frozen=True, slots=True)
class Schedule:
    """A room's booking round, as viewers see it. Times in seconds (``starts``: 0 = not given)."""

    state: Round
    title: str
    starts: float
    bookings: int

    def public(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "title": self.title,
            "starts": self.starts or None,
            "bookings": self.bookings,
        }


@dataclass(frozen=True, slots=True)
class Booked:
    """The answer to a booking: ``new`` is False for a repeat; ``schedule`` is the round now."""

    code: Booking
    new: bool = False
    schedule: Schedule | None = None


@dataclass(frozen=True, slots=True)
class Announced:
    """One ``announce`` step: whether the room's round has started, how many bookings this
    step announced (a ``room.started`` event each), how many are left to announce."""

    started: bool
    announced: int
    left: int


class PrivateStore(Protocol):
    """Follows, cards and bookings of every host and room. Each method is one atomic step."""

    async def follow(self, scope: str, room: str, user: str, host: str) -> Followed:
        """Add ``user`` to the followers of the host of ``scope`` (``user.followed`` on a new
        follow, in the scope's outbox). ``room`` is where the follow happened."""
        ...

    async def unfollow(self, scope: str, room: str, user: str, host: str) -> Followed:
        """Take ``user`` out of the followers (``user.unfollowed`` when it was one)."""
        ...

    async def follows(self, scope: str, user: str) -> bool: ...

    async def followers(self, scope: str) -> int: ...

    async def put_card(self, owner: str, name: str, card: dict[str, Any] | None) -> None:
        """Set (None: remove) the card ``name`` of ``owner`` (a room or a host scope)."""
        ...

    async def card(self, owner: str, name: str) -> dict[str, Any] | None: ...

    async def offer_once(self, room: str, key: str) -> bool:
        """True the first time ``key`` is offered in ``room`` (a paid order's card), False
        after, on every node."""
        ...

    async def schedule(self, room: str, title: str, starts: float) -> Booked:
        """Open a booking round for the room's next live, or change the open one's title and
        time. ``room_live`` while the room is live; ``busy`` while the last round is still
        being announced. A new round starts with no bookings."""
        ...

    async def book(self, room: str, user: str) -> Booked:
        """Book ``user`` for the room's scheduled live (``room.booked`` on a new booking):
        ``not_scheduled``, ``room_live`` or ``room_ended`` otherwise."""
        ...

    async def booked(self, room: str, user: str) -> bool:
        """Whether ``user`` holds a booking in the room's current round."""
        ...

    async def round(self, room: str) -> Schedule | None:
        """The room's booking round, None when none was ever scheduled."""
        ...

    async def announce(self, room: str, batch: int = ANNOUNCE_BATCH) -> Announced:
        """When the room is live (settings stored, not ``ended``) or its round has started:
        mark the round started and turn up to ``batch`` unannounced bookings into one
        ``room.started`` event each, in one step. Each booking is announced exactly once,
        whichever node calls and however often."""
        ...

    async def rounds(self) -> list[str]:
        """Rooms whose round may still need announcing: what the sweepers visit."""
        ...

    async def retire(self, room: str, grace_s: float = INDEX_GRACE_S) -> bool:
        """Take ``room`` out of ``rounds`` when its round is done (started, nothing left to
        announce) and was scheduled more than ``grace_s`` ago. True when taken out."""
        ...

    async def ledger(self, room: str) -> dict[str, bool]:
        """Every booking of the current round: user -> announced yet (for audits and tests)."""
        ...
