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
from collections import deque
from collections.abc import Callable, Iterator
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
    entries: deque[Entry] = field(default_factory=deque)
    last_ms: int = 0
    last_seq: int = 0
    added: int = 0  # entries ever appended (as a stream's entries-added)


class MemoryOutbox:
    """Every room's outbox in this process (the memory engine's). Appending never awaits, so
    a memory store calling ``append`` inside its own synchronous step keeps both atomic.

    Bounded by count and age on append (``max_len``, ``max_age_s``); a reader that falls behind
    the bound learns it from ``added`` (entries ever appended) and is expected to report it.
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
        while len(log.entries) > self.max_len:
            log.entries.popleft()
        if self.max_age_s > 0:
            oldest = now_ms - int(self.max_age_s * 1000)
            while log.entries and log.entries[0].ts_ms < oldest:
                log.entries.popleft()
        for listener in self.listeners:
            listener(room)
        return entry.id

    def rooms(self) -> list[str]:
        return list(self._logs)

    def after(self, room: str, entry: str, count: int) -> list[Entry]:
        """Up to ``count`` entries of ``room`` with ids above ``entry`` (``"0-0"``: from the
        start), oldest first."""
        log = self._logs.get(room)
        if log is None:
            return []
        key = parse_id(entry)
        out: list[Entry] = []
        for item in _from_end(log.entries, key):
            out.append(item)
            if len(out) >= count:
                break
        return out

    def first(self, room: str) -> str | None:
        log = self._logs.get(room)
        return log.entries[0].id if log is not None and log.entries else None

    def added(self, room: str) -> int:
        log = self._logs.get(room)
        return log.added if log is not None else 0

    def length(self, room: str) -> int:
        log = self._logs.get(room)
        return len(log.entries) if log is not None else 0


def _from_end(entries: deque[Entry], key: tuple[int, int]) -> Iterator[Entry]:
    """Entries with ids above ``key``, oldest first; scans back from the newest, since readers
    are nearly always close behind."""
    start = len(entries)
    while start > 0 and parse_id(entries[start - 1].id) > key:
        start -= 1
    for i in range(start, len(entries)):
        yield entries[i]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
