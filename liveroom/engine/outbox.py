"""The business-event outbox: where a state change leaves its event, in the same atomic step.

Business events (``order.reserved``, ``bag.drawn``, ...; ``docs/events.md``) are what a shop's
backend must hear: unlike room events they are not for viewers, and nothing is ever sent
without its state change, nor the reverse. Each room has one outbox, an append-only log:

- on Redis, the stream ``<prefix>:{room:<id>}:outbox`` (the room's hash tag: one Cluster
  slot with the room's other keys), appended by the very Lua script that changes the state
  (``outbox()`` of ``lua/outbox_lib.lua``, prepended to every script);
- on the memory engine, a ``MemoryOutbox`` appended by the memory store's synchronous code
  (``MemoryHost.emit_now``), with ids shaped like stream ids.

An entry has the fields ``type``, ``room``, ``ts`` (milliseconds, Redis' clock) and ``data``
(a JSON object). Its id is the stream entry id; the event id a backend sees is
``event_id(room, entry id)``, the same on every delivery and on the pull path.

The feed (``liveroom.features.events``) reads the outboxes, delivers them and trims them.
"""

from __future__ import annotations

import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from liveroom.protocol import kept


def event_id(room: str, entry: str) -> str:
    """The id of the event stored under stream id ``entry`` in ``room``'s outbox: unique over
    every room, and the idempotency key of its deliveries."""
    return f"{room}:{entry}"


def room_change(info: dict[str, Any]) -> bytes:
    """The payload of ``room.started`` and ``room.ended``, from the room's new settings."""
    return orjson.dumps({"title": info.get("title")})


def parse_id(entry: str) -> tuple[int, int]:
    """A stream id ``"<ms>-<seq>"`` as a sortable pair."""
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True, slots=True)
class Entry:
    """One outbox entry as stored. ``data`` is the payload's JSON text."""

    id: str
    type: str
    room: str
    ts_ms: int
    data: bytes

    def event(self) -> dict[str, Any]:
        """The event as a backend receives it (docs/events.md): time in seconds."""
        return {
            "id": event_id(self.room, self.id),
            "type": self.type,
            "room": self.room,
            "timestamp": self.ts_ms / 1000,
            "data": orjson.loads(self.data),
        }

    @classmethod
    def from_fields(cls, entry: str, fields: dict[Any, Any]) -> Entry:
        """An entry read from a Redis stream (keys and values as bytes or text)."""
        f = {_text(k): v for k, v in fields.items()}
        data = f["data"]
        return cls(
            entry,
            _text(f["type"]),
            _text(f["room"]),
            int(f["ts"]),
            data if isinstance(data, bytes) else str(data).encode(),
        )


@dataclass(slots=True)
class _Log:
    """One room's entries, oldest first, in ``entries[start:]``.

    A list rather than a deque because a read finds its cursor by bisecting on the ids, and a
    deque's indexing is O(n) away from its ends. Trimming moves ``start`` on and now and then
    deletes the dead prefix (``_drop``), so the front is cut cheaply too.
    """

    entries: list[Entry] = field(default_factory=list)
    start: int = 0
    last_ms: int = 0
    last_seq: int = 0
    added: int = 0  # entries ever appended (as a stream's entries-added)


class MemoryOutbox:
    """Every room's outbox in this process (the memory engine's). Appending never awaits, so
    a memory store calling ``append`` inside its own synchronous step keeps both atomic.

    Bounded by count and age on append (``max_len``, ``max_age_s``), and by the feed's
    periodic ``trim`` of every room, so that a room nothing is appended to any more shrinks
    too; a reader that falls behind the bound learns it from ``added`` (entries ever
    appended) and is expected to report it. A read costs O(log n + count), wherever its
    cursor is.
    """

    def __init__(
        self, clock: Callable[[], float] = time.time, max_len: int = 100_000, max_age_s: float = 0
    ) -> None:
        self.clock = clock
        self.max_len = max_len
        self.max_age_s = max_age_s
        self._logs: dict[str, _Log] = {}
        #: called with the room after every append (the feed wakes its deliverers)
        self.listeners: list[Callable[[str], None]] = []

    def append(self, room: str, etype: str, data: dict[str, Any]) -> str:
        """Append an event to ``room``'s outbox; its entry id."""
        log = self._logs.get(room)
        if log is None:
            log = self._logs[room] = _Log()
        now_ms = int(self.clock() * 1000)
        if now_ms > log.last_ms:
            log.last_ms, log.last_seq = now_ms, 0
        else:
            log.last_seq += 1
        data_json = kept(orjson.dumps(data))  # right-sized: kept until trimmed
        entry = Entry(f"{log.last_ms}-{log.last_seq}", etype, room, now_ms, data_json)
        log.entries.append(entry)
        log.added += 1
        # once per business event: look at the oldest entries only, never bisect
        entries, start = log.entries, log.start
        cut = len(entries) - self.max_len
        if cut < start:
            cut = start
        if self.max_age_s > 0:
            oldest = now_ms - int(self.max_age_s * 1000)
            while cut < len(entries) and entries[cut].ts_ms < oldest:
                cut += 1
        if cut > start:
            _drop(log, cut)
        for listener in self.listeners:
            listener(room)
        return entry.id

    def trim(self, room: str, max_len: int, max_age_s: float) -> int:
        """Cut ``room``'s outbox to its newest ``max_len`` entries and none older than
        ``max_age_s`` (0: no age bound); how many went. The feed calls it for every room each
        ``feed_trim_s``, whether or not the room still appends.

        The rules of ``feed_trim.lua``: the cut is the later of the age cut (ids below
        ``<oldest ms>-0``) and the count cut; a ``max_len`` below 1 sets no count bound; and
        entries a reader still needs, read and unacknowledged or not read at all, go like any
        other (XTRIM MINID does not look at consumer groups): the reader learns it from
        ``added`` and ``holds``.
        """
        log = self._logs.get(room)
        if log is None:
            return 0
        cut = log.start
        if max_age_s > 0:
            oldest = int((self.clock() - max_age_s) * 1000)
            cut = bisect_left(log.entries, (oldest, 0), lo=log.start, key=_entry_key)
        excess = len(log.entries) - log.start - max_len
        if max_len > 0 and excess > 0:
            cut = max(cut, log.start + excess)
        return _drop(log, cut)

    def rooms(self) -> list[str]:
        return list(self._logs)

    def after(self, room: str, entry: str, count: int) -> list[Entry]:
        """Up to ``count`` entries of ``room`` with ids above ``entry`` (``"0-0"``: from the
        start), oldest first."""
        log = self._logs.get(room)
        if log is None:
            return []
        i = _above(log, entry)
        return log.entries[i : i + count]

    def count_after(self, room: str, entry: str) -> int:
        """How many entries of ``room`` have ids above ``entry``."""
        log = self._logs.get(room)
        return len(log.entries) - _above(log, entry) if log is not None else 0

    def holds(self, room: str, entry: str) -> bool:
        """Whether ``entry``, an id once appended to ``room``, is still kept (not trimmed)."""
        log = self._logs.get(room)
        if log is None or log.start == len(log.entries):
            return False
        # entries go from the front only: anything from the oldest kept on is still here
        return parse_id(entry) >= parse_id(log.entries[log.start].id)

    def first(self, room: str) -> str | None:
        log = self._logs.get(room)
        if log is None or log.start == len(log.entries):
            return None
        return log.entries[log.start].id

    def added(self, room: str) -> int:
        log = self._logs.get(room)
        return log.added if log is not None else 0

    def length(self, room: str) -> int:
        log = self._logs.get(room)
        return len(log.entries) - log.start if log is not None else 0


def _entry_key(entry: Entry) -> tuple[int, int]:
    return parse_id(entry.id)


def _above(log: _Log, entry: str) -> int:
    """The index of the first kept entry with an id above ``entry``. Ids only grow, so this
    bisects: about log2(n) ids parsed, however far behind the reader is."""
    return bisect_right(log.entries, parse_id(entry), lo=log.start, key=_entry_key)


def _drop(log: _Log, cut: int) -> int:
    """Trim ``log`` to ``entries[cut:]``; how many entries went.

    The dead prefix is deleted once it reaches a sixteenth of the list: memory held by
    trimmed entries stays within about 7% of what is kept, and each entry trimmed costs at
    most 15 pointer moves (an idle room trimmed to nothing lets go of everything at once).
    """
    removed = cut - log.start
    if removed <= 0:
        return 0
    log.start = cut
    if log.start * 16 >= len(log.entries):
        del log.entries[: log.start]
        log.start = 0
    return removed


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
