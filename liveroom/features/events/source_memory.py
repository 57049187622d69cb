"""MemoryFeedSource: the memory engine's outboxes, read by this process alone.

One process delivers everything, so leases always succeed and nothing is ever claimed; a lane
is a cursor into the room's ``MemoryOutbox`` and the entries read and not yet acknowledged.
The outbox trims itself on append (count and age), and ``trim`` cuts every room's, idle ones
too, as ``feed_trim.lua`` cuts the streams. As on Redis, a trim does not spare what a lane still
needs: a lane that falls behind the bound learns it from the outbox's ``added`` count and
reports how many it lost; entries it read and had not acknowledged when they were trimmed are
lost at its next read, and counted there.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from liveroom.engine.outbox import Entry, MemoryOutbox
from liveroom.features.events.endpoints import Endpoint
from liveroom.features.events.source import DeadLetter, FeedSource, Read, Trimmed

#: dead letters kept; the oldest go first beyond this
DEAD_MAX = 100_000
#: a cursor past every sequence number of one millisecond
_LAST_SEQ = 2**63


@dataclass(slots=True)
class _Lane:
    cursor: str
    read: int  # entries of the room's outbox this lane has read or lost (as entries-read)
    pending: list[Entry] = field(default_factory=list)


class MemoryFeedSource:
    """Satisfies ``FeedSource``."""

    def __init__(self, outbox: MemoryOutbox, clock: Callable[[], float] = time.time) -> None:
        self.outbox = outbox
        self.clock = clock
        self._lanes: dict[tuple[str, str], _Lane] = {}
        self._dead: deque[DeadLetter] = deque()
        self._dead_seq = 0
        self._endpoints: dict[str, Endpoint] = {}

    def watch(self, callback: Callable[[str], None]) -> None:
        self.outbox.listeners.append(callback)

    async def rooms(self) -> list[str]:
        return self.outbox.rooms()

    async def lease(self, room: str, endpoint: str, owner: str, ttl_s: float) -> bool:
        return True

    async def release(self, room: str, endpoint: str, owner: str) -> None:
        return None

    async def open_lane(self, room: str, endpoint: str, start: float) -> None:
        if (room, endpoint) in self._lanes:
            return
        start_ms = int(start * 1000)
        cursor = f"{start_ms - 1}-{_LAST_SEQ}" if start_ms > 0 else "0-0"
        after = self.outbox.count_after(room, cursor)
        self._lanes[(room, endpoint)] = _Lane(cursor, self.outbox.added(room) - after)

    async def claim(self, room: str, endpoint: str, owner: str, idle_s: float) -> int:
        return 0

    def _catch_up(self, room: str, lane: _Lane) -> int:
        """Entries trimmed before this lane read them; the lane moves past them."""
        unread = self.outbox.added(room) - lane.read
        lost = unread - self.outbox.length(room)
        if lost <= 0:
            return 0
        lane.read += lost
        return lost

    async def read(self, room: str, endpoint: str, owner: str, count: int) -> Read:
        lane = self._lanes[(room, endpoint)]
        gone = self._forget_trimmed(room, lane)
        if lane.pending:
            return Read(lane.pending[:count], gone)
        lost = self._catch_up(room, lane)
        entries = self.outbox.after(room, lane.cursor, count)
        if entries:
            lane.read += len(entries)
            lane.cursor = entries[-1].id
            lane.pending = list(entries)
        return Read(entries, gone + lost)

    def _forget_trimmed(self, room: str, lane: _Lane) -> int:
        """Drop the lane's pending entries the outbox has trimmed since; how many. Redis gives
        those back empty to XREADGROUP, and the Redis source counts them lost: so do we.
        Pending entries are in id order and trims cut from the front, so the trimmed ones are
        a prefix."""
        gone = 0
        while gone < len(lane.pending) and not self.outbox.holds(room, lane.pending[gone].id):
            gone += 1
        if gone:
            del lane.pending[:gone]
        return gone

    async def ack(self, room: str, endpoint: str, ids: list[str]) -> None:
        lane = self._lanes.get((room, endpoint))
        if lane is not None:
            done = set(ids)
            lane.pending = [e for e in lane.pending if e.id not in done]

    async def bury(self, endpoint: str, entries: list[Entry], error: str, attempts: int) -> None:
        now = self.clock()
        for entry in entries:
            self._dead_seq += 1
            self._dead.append(
                DeadLetter(
                    f"{int(now * 1000)}-{self._dead_seq}",
                    endpoint,
                    entry.event(),
                    error,
                    attempts,
                    now,
                )
            )
        while len(self._dead) > DEAD_MAX:
            self._dead.popleft()

    async def dead(self, limit: int, before: str | None = None) -> list[DeadLetter]:
        out = []
        for letter in reversed(self._dead):
            if before is not None and _key(letter.id) >= _key(before):
                continue
            out.append(letter)
            if len(out) >= limit:
                break
        return out

    async def dead_by_id(self, ids: list[str]) -> list[DeadLetter]:
        wanted = set(ids)
        return [d for d in self._dead if d.id in wanted]

    async def dead_count(self) -> int:
        return len(self._dead)

    async def unbury(self, ids: list[str]) -> None:
        gone = set(ids)
        self._dead = deque(d for d in self._dead if d.id not in gone)

    async def trim(self, max_len: int, max_age_s: float) -> Trimmed:
        # every room, not only those appended to lately: a finished show's outbox must shrink
        # too, as the Redis trim cuts every stream
        out = Trimmed()
        for room in self.outbox.rooms():
            out.rooms += 1
            out.removed += self.outbox.trim(room, max_len, max_age_s)
        # then the lanes the bounds (this trim's, or an append's) outran before they read
        for (room, endpoint), lane in self._lanes.items():
            lost = self._catch_up(room, lane)
            if lost:
                out.behind[(room, f"wh:{endpoint}")] = lost
        return out

    async def endpoints(self) -> list[Endpoint]:
        return list(self._endpoints.values())

    async def put_endpoint(self, endpoint: Endpoint) -> None:
        self._endpoints[endpoint.id] = endpoint

    async def delete_endpoint(self, endpoint: str) -> bool:
        return self._endpoints.pop(endpoint, None) is not None


def _key(entry: str) -> tuple[int, int]:
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq or 0)


#: the static conformance check (mypy): a ``MemoryFeedSource`` is a ``FeedSource``
_satisfies: Callable[[MemoryOutbox], FeedSource] = MemoryFeedSource
