"""Lucky-bag state shared by every node: the ``BagStore`` protocol. ``stores.bag_store(engine)``
builds the implementation for the engine in use (``store_memory.py``, ``store_redis.py``).

A bag moves CREATED → OPEN → DRAWING → DRAWN, or to REVOKED from CREATED or OPEN. Every state
change that viewers must see publishes its room event in the same atomic step as the change, so
the event is never lost or doubled and comes in offset order with the rest of the room.

The draw is two steps so that the winner recipe lives in Python, where anyone can read it:

1. ``claim`` moves an OPEN bag whose deadline passed (or any OPEN bag, when ``force``) to DRAWING
   under a lease held by one caller, and hands back the frozen participant list and the seed.
   Every other caller is told the bag is busy or drawn. A lease that runs out (its node died)
   may be claimed again; the participants and seed are the same, so the answer is the same.
2. ``finish`` stores the winners, counts their wins for the day, publishes the announcement and
   the private notices, all at once, and only for the lease holder. A winner already at the
   daily cap comes back as ``capped``; the caller leaves them out and finishes again.

Room keys share the room's hash tag. The index of open bags by deadline (``due``) is the one
key outside any room: each node reads it to find bags whose timers it must run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence


class BagState(StrEnum):
    CREATED = "created"
    OPEN = "open"
    DRAWING = "drawing"
    DRAWN = "drawn"
    REVOKED = "revoked"


class Outcome(StrEnum):
    """What a store call did. Anything but ``OK`` or ``CLAIMED`` changed nothing."""

    OK = "ok"
    CLAIMED = "claimed"
    MISSING = "missing"  # no such bag in this room
    EXISTS = "exists"  # create: the id is taken
    STATE = "state"  # the bag is in a state that does not allow this; see ``state``
    BUSY = "busy"  # open: another bag of the room is open; claim: another node is drawing
    EARLY = "early"  # claim: the deadline has not passed
    ENDED = "ended"  # join: the deadline has passed
    DUE = "due"  # revoke: the deadline has passed, the draw is owed
    LIMIT = "limit"  # join: the user has won the daily number of bags in this room
    CAPPED = "capped"  # finish: some winners reached the daily cap meanwhile; see ``users``
    LOST = "lost"  # finish: the lease is no longer ours


@dataclass(frozen=True, slots=True)
class Bag:
    """One bag as stored. ``rules`` never change after ``create``; ``seed`` stays secret until
    the bag is DRAWN (the feature decides what to show)."""

    id: str
    room: str
    state: BagState
    rules: dict[str, Any]
    created_at: float
    opened_at: float | None = None
    deadline: float | None = None
    seed: str | None = None
    seed_hash: str | None = None
    drawn_at: float | None = None
    revoked_at: float | None = None
    result: dict[str, Any] | None = None  # {"winners": [{id, name}], "ineligible": {id: why}}
    count: int = 0


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer of a state-changing call."""

    outcome: Outcome
    state: BagState | None = None  # with STATE: the state that refused
    count: int = 0  # join: participants after this call
    new: bool = False  # join: True the first time this user joined
    deadline: float | None = None  # with EARLY
    users: list[str] = field(default_factory=list)  # with CAPPED


@dataclass(frozen=True, slots=True)
class Draw:
    """A draw's outcome, as ``BagStore.finish`` stores and sends it: the winners and the
    ineligible (``result``), the day whose wins count against ``daily_cap``, the room event
    (``body``) and each winner's private notice."""

    result: dict[str, Any]
    day: str
    daily_cap: int
    body: bytes
    notice: bytes

    @property
    def winners(self) -> list[str]:
        return [w["id"] for w in self.result["winners"]]


@dataclass(frozen=True, slots=True)
class Claim:
    """``claim``'s answer: with CLAIMED, the bag, its seed and its frozen participants."""

    outcome: Outcome
    bag: Bag | None = None
    participants: dict[str, str] = field(default_factory=dict)  # user id -> display name
    state: BagState | None = None
    deadline: float | None = None


class BagStore(Protocol):
    """Lucky-bag state shared by every node. Times are epoch seconds passed in by the caller."""

    async def create(self, bag: Bag, body: bytes) -> Answer:
        """Store a new CREATED bag and publish ``body`` (its ``bag`` event)."""
        ...

    async def open(
        self,
        room: str,
        bag_id: str,
        now: float,
        deadline: float,
        seed: str,
        seed_hash: str,
        body: bytes,
    ) -> Answer:
        """CREATED → OPEN until ``deadline``, holding the secret seed; publish ``body``.
        BUSY when another bag of the room is OPEN or DRAWING."""
        ...

    async def join(
        self, room: str, bag_id: str, user: str, name: str, now: float, day: str, daily_cap: int
    ) -> Answer:
        """Add ``user`` to an OPEN bag before its deadline. Idempotent: ``new`` says whether
        it counted."""
        ...

    async def claim(
        self, room: str, bag_id: str, now: float, token: str, lease_s: float, force: bool
    ) -> Claim:
        """Take the draw of a due (or, with ``force``, any) OPEN bag. One caller wins."""
        ...

    async def finish(self, room: str, bag_id: str, token: str, now: float, draw: Draw) -> Answer:
        """DRAWING → DRAWN for the lease holder: store ``draw.result``, count wins, publish
        ``draw.body``, send ``draw.notice`` privately to each winner. CAPPED (nothing done)
        lists the winners already at ``draw.daily_cap``."""
        ...

    async def revoke(self, room: str, bag_id: str, now: float, body: bytes) -> Answer:
        """CREATED or OPEN (before its deadline) → REVOKED; publish ``body``."""
        ...

    async def get(self, room: str, bag_id: str) -> Bag | None: ...

    async def current(self, room: str) -> Bag | None:
        """The room's bag of the moment: the last one opened, unless it was revoked."""
        ...

    async def current_many(self, rooms: Sequence[str]) -> list[Bag | None]:
        """``current`` of each of ``rooms``, in order, in one round to the store."""
        ...

    async def recent(self, room: str, limit: int) -> list[Bag]:
        """The room's bags, newest first."""
        ...

    async def participants(self, room: str, bag_id: str) -> dict[str, str]:
        """Every participant of a bag: user id -> display name."""
        ...

    async def is_participant(self, room: str, bag_id: str, user: str) -> bool: ...

    async def wins(self, room: str, day: str, users: list[str]) -> dict[str, int]:
        """Bags won on ``day`` in ``room`` by each of ``users`` (absent: none)."""
        ...

    async def due(self, until: float) -> list[tuple[str, str, float]]:
        """Open bags of any room due by ``until``: (room, bag, deadline)."""
        ...

    async def undue(self, room: str, bag_id: str) -> None:
        """Forget a bag in the deadline index (it was drawn or revoked)."""
        ...

    async def seen(
        self,
        room: str,
        node: str,
        users: set[str],
        gone: set[str],
        reset: bool,
        ttl_s: float,
        now: float,
    ) -> None:
        """This node holds connections of ``users`` in ``room`` and no longer of ``gone``
        (``reset``: of exactly ``users``). The node's report lapses after ``ttl_s``."""
        ...

    async def present(self, room: str, now: float) -> set[str]:
        """Users with a connection in ``room`` on some node whose report has not lapsed."""
        ...
