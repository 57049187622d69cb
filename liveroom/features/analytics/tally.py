"""``Tally``: what one node has seen of each room since its last write, counted in memory.

It is the node's ``AnalyticsSink`` (``liveroom.context``): features call it as things happen,
and the analytics feature adds joins, leaves, comments and shares. Every call is a few dict
operations on this node, never an ``await`` and never shared state; ``drain`` hands the pending
part to the feature once per pulse, which writes each room in one step. Nothing here runs per
viewer per frame: a card's exposures are not counted at all, they follow from the pins and the
viewers' connected intervals when a report is built (``report.py``).

Times are the node's clock (``NodeContext.now``), rounded to the millisecond.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

#: the traffic sources a join may name (``src``); anything else counts as "other"
SOURCES = ("feed", "follow", "search", "share", "group", "official", "ad", "other")


def source_of(raw: str | None) -> str:
    """A join's ``src`` parameter as one of ``SOURCES``: unknown or missing is "other"."""
    return raw if raw in SOURCES else "other"


def minute_of(t: float) -> int:
    """The start of ``t``'s minute, in seconds since the epoch."""
    return int(t // 60) * 60


def hour_of(t: float) -> int:
    """The start of ``t``'s hour, in seconds since the epoch."""
    return int(t // 3600) * 3600


@dataclass(slots=True)
class Newcomer:
    """A user this node has not yet reported in a room: their first join here, its time,
    source and claims (the store keeps the earliest over all nodes)."""

    at: float
    source: str
    traits: tuple[tuple[str, str], ...]
    #: an anonymous connection: its id is its own and never comes back, so it is never a
    #: returning viewer, and nothing needs to remember it once it has gone
    guest: bool = False


@dataclass(frozen=True, slots=True)
class Payment:
    """A paid order, counted once per order id by the store (a repeated confirm is not)."""

    user: str
    sku: str
    units: int
    cents: int
    hour: int


@dataclass(slots=True)
class Batch:
    """One room's tally since the node's last write, as the store writes it in one step."""

    room: str
    now: float
    host: str = ""
    newcomers: dict[str, Newcomer] = field(default_factory=dict)
    closed: list[tuple[str, float, float]] = field(default_factory=list)  # user, start, end
    opens: dict[str, float] = field(default_factory=dict)  # user -> start of a local interval
    closes: set[str] = field(default_factory=set)  # users whose local interval ended
    #: a ``defaultdict``, not a ``Counter``: a ``+=`` on the C subclass costs half what it
    #: costs on the Python one, and a comment makes two (``Tally._count``)
    counts: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    marks: set[tuple[str, str]] = field(default_factory=set)  # (distinct count, user)
    boards: dict[int, tuple[float, list[str]]] = field(default_factory=dict)  # version -> at, skus
    paid: dict[str, Payment] = field(default_factory=dict)  # order -> its payment

    def empty(self) -> bool:
        return not (
            self.newcomers
            or self.closed
            or self.opens
            or self.closes
            or self.counts
            or self.marks
            or self.boards
            or self.paid
        )


class _Room:
    """One room on this node: its local connections per user, and the pending batch."""

    __slots__ = ("conns", "opened", "seen", "pending", "written", "touched")

    def __init__(self, room: str, now: float) -> None:
        self.conns: dict[str, int] = {}  # user -> connections on this node
        self.opened: dict[str, float] = {}  # user -> start of their open local interval
        self.seen: set[str] = set()  # users reported by this node (as newcomers)
        self.pending = Batch(room, now)
        self.written = float("-inf")  # when a batch of the room was last drained to be written
        #: ``pending`` may hold something: set by every change to it (``Tally._room``,
        #: ``Tally.left``), cleared by ``drain``; a quiet room's check is this one flag
        self.touched = False


class Tally:
    """The node's in-memory analytics tally; the ``AnalyticsSink`` features report to."""

    def __init__(self, clock: Callable[[], float], enabled: bool = True) -> None:
        self.clock = clock
        self.enabled = enabled
        self.rooms: dict[str, _Room] = {}
        #: the minute of ``_per_minute``'s keys, and the clock readings surely inside it
        self._minute = -1
        self._inside = (0.0, 0.0)
        self._minute_keys: dict[str, str] = {}

    def _now(self) -> float:
        return round(self.clock(), 3)

    def _per_minute(self, name: str) -> str:
        """``m:<minute of now>:<name>``, the key of ``name``'s count in this minute. Counted
        on every comment and like: the minute is worked out (``_now`` rounds through a decimal
        conversion) and the key formatted only when the clock leaves the minute, not per count.
        A reading within a millisecond of the minute's edges takes the exact way."""
        t = self.clock()
        low, high = self._inside
        if not low <= t < high:
            minute = minute_of(round(t, 3))
            if minute != self._minute:
                self._minute, self._minute_keys = minute, {}
            self._inside = (minute + 0.001, minute + 59.998)
        key = self._minute_keys.get(name)
        if key is None:
            key = self._minute_keys[name] = f"m:{self._minute}:{name}"
        return key

    def _room(self, room: str) -> _Room:
        """The room's tally, to change its pending batch: every change goes through here (or
        through ``left``), which marks the room ``touched``."""
        found = self.rooms.get(room)
        if found is None:
            found = self.rooms[room] = _Room(room, self._now())
        found.touched = True
        return found

    # ------------------------------------------------------------------ audience

    def joined(
        self,
        room: str,
        user: str,
        source: str,
        traits: tuple[tuple[str, str], ...],
        host: str = "",
        guest: bool = False,
    ) -> None:
        """A connection of ``user`` joined ``room`` on this node (a second tab too);
        ``guest``: an anonymous one (``Newcomer.guest``)."""
        if not self.enabled:
            return
        r = self._room(room)
        if host:
            r.pending.host = host
        n = r.conns.get(user, 0)
        r.conns[user] = n + 1
        now = self._now()
        if n == 0:
            r.opened[user] = now
            r.pending.opens[user] = now
        if user not in r.seen:
            r.seen.add(user)
            r.pending.newcomers[user] = Newcomer(now, source, traits, guest)

    def left(self, room: str, user: str, guest: bool = False) -> None:
        """A connection of ``user`` left ``room``; the last one closes their interval here.
        A guest (``Newcomer.guest``) is forgotten then: a room's anonymous connections came and
        went by the tens of thousands in a long show, each kept in ``seen`` until the room's
        last viewer here left."""
        r = self.rooms.get(room)
        n = r.conns.get(user, 0) if r is not None else 0
        if r is None or n <= 0:
            return
        if n > 1:
            r.conns[user] = n - 1
            return
        del r.conns[user]
        if guest:
            r.seen.discard(user)
        r.touched = True
        start = r.opened.pop(user)
        r.pending.closed.append((user, start, max(start, self._now())))
        r.pending.opens.pop(user, None)
        r.pending.closes.add(user)

    def close_all(self) -> None:
        """End every open local interval now (the node is closing)."""
        for room, r in list(self.rooms.items()):
            for user in list(r.conns):
                r.conns[user] = 1
                self.left(room, user)

    # ------------------------------------------------------------------ interaction

    def _count(self, room: str, name: str, user: str, n: int = 1) -> None:
        pending = self._room(room).pending
        counts = pending.counts
        counts[name] += n
        counts[self._per_minute(name)] += n
        pending.marks.add(("interacted", user))

    def commented(self, room: str, user: str) -> None:
        """``_count`` of a comment, written out: it runs for every comment of the node."""
        if not self.enabled:
            return
        found = self.rooms.get(room)
        if found is None:
            found = self._room(room)
        found.touched = True
        pending = found.pending
        counts = pending.counts
        counts["comments"] += 1
        counts[self._per_minute("comments")] += 1
        pending.marks.add(("interacted", user))

    def liked(self, room: str, user: str, count: int) -> None:
        if self.enabled:
            self._count(room, "likes", user, count)

    def shared(self, room: str, user: str) -> None:
        if self.enabled:
            self._count(room, "shares", user)

    def followed(self, room: str, user: str) -> None:
        # counted, not marked: following is not one of the interactions (comment, like, share)
        if self.enabled:
            self._room(room).pending.counts["follows"] += 1

    # ------------------------------------------------------------------ products

    def cards_shown(self, room: str, version: int, skus: list[str]) -> None:
        if self.enabled:
            self._room(room).pending.boards[version] = (self._now(), list(skus))

    def card_clicked(self, room: str, user: str, sku: str) -> None:
        if not self.enabled:
            return
        pending = self._room(room).pending
        pending.counts[f"click:{sku}"] += 1
        pending.counts[self._per_minute(f"click:{sku}")] += 1
        pending.marks.add((f"clickers:{sku}", user))

    def buy_tried(self, room: str, user: str, sku: str) -> None:
        if self.enabled:
            self._room(room).pending.marks.add((f"tried:{sku}", user))

    def order_reserved(self, room: str, user: str, sku: str, units: int) -> None:
        if not self.enabled:
            return
        pending = self._room(room).pending
        pending.counts[f"reservations:{sku}"] += 1
        pending.marks.add((f"reserved:{sku}", user))

    def order_paid(
        self, room: str, user: str, sku: str, order: str, units: int, cents: int
    ) -> None:
        if self.enabled:
            payment = Payment(user, sku, units, cents, hour_of(self._now()))
            self._room(room).pending.paid.setdefault(order, payment)

    def group_step(self, room: str, user: str, step: str) -> None:
        """Group buys: ``groups:<step>`` (started, joined, formed, failed) counts up."""
        if self.enabled:
            self._room(room).pending.counts[f"groups:{step}"] += 1

    # ------------------------------------------------------------------ the write

    def drain(self, heartbeat_s: float = 0.0) -> list[Batch]:
        """The pending batch of every room with something to write; forgets rooms with no
        local viewer left. A room with viewers here and nothing new is written anyway, once
        ``heartbeat_s`` has passed since its last write (its last write and keep time move on;
        the node's beat keeps its open intervals live in between): a node with thousands of
        quiet rooms does not write each of them every pulse."""
        now = self._now()
        out = []
        gone = []
        for room, r in self.rooms.items():
            batch = r.pending
            if (r.touched and not batch.empty()) or (r.conns and now - r.written >= heartbeat_s):
                r.pending = Batch(room, now)
                batch.now = now
                r.written = now
                out.append(batch)
            r.touched = False
            if not r.conns:
                gone.append(room)
        for room in gone:
            del self.rooms[room]
        return out

    def restore(self, batch: Batch) -> None:
        """Put back a batch the store could not write; the next write carries it, at the next
        drain: a quiet room's too (its write is due again at once, not a heartbeat later, so
        that ``report.last_seen`` finds the node's beat close to a write of the room)."""
        r = self._room(batch.room)
        r.written = float("-inf")
        p = r.pending
        p.host = p.host or batch.host
        for user, newcomer in batch.newcomers.items():
            p.newcomers.setdefault(user, newcomer)
        p.closed[:0] = batch.closed
        p.closes |= batch.closes  # the store applies closes before opens
        for user, start in batch.opens.items():
            if r.opened.get(user) == start:  # still open: else its close is pending
                p.opens.setdefault(user, start)
        counts = p.counts
        for name, n in batch.counts.items():
            counts[name] += n
        p.marks |= batch.marks
        for version, board in batch.boards.items():
            p.boards.setdefault(version, board)
        for order, payment in batch.paid.items():
            p.paid.setdefault(order, payment)
