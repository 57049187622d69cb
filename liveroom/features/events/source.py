"""What the feed reads, leases and keeps, as a ``typing.Protocol``: ``FeedSource``.

``MemoryFeedSource`` (``source_memory.py``, the memory engine's outboxes, one process) and
``RedisFeedSource`` (``source_redis.py``, Redis streams and consumer groups, every node) fulfil
it; the ``Deliverer`` is written once against it.

Deliveries to one endpoint from one room form a *lane*. On Redis a lane is a consumer group
``wh:<endpoint id>`` on the room's outbox stream, and one node at a time holds it (a lease
with a TTL, ``feed_claim_s``, renewed while it works): so events reach the endpoint in the
room's order. A node takes a lane over only once its lease went unrenewed for the whole TTL
(the holder died or lost Redis); it then claims (``XAUTOCLAIM``) everything the previous
holder had read and not acknowledged, and delivers that first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from liveroom.engine.outbox import Entry
from liveroom.features.events.endpoints import Endpoint


@dataclass(frozen=True, slots=True)
class Read:
    """What one read of a lane gave: entries to deliver, oldest first (those read before and
    not acknowledged come first), and how many were trimmed away before they could be
    delivered (reported, never silent)."""

    entries: list[Entry]
    skipped: int = 0


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event an endpoint did not take: after every attempt, or refused outright."""

    id: str  # the dead-letter entry's own id
    endpoint: str
    event: dict[str, Any]
    error: str
    attempts: int
    at: float

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "event": self.event,
            "error": self.error,
            "attempts": self.attempts,
            "at": self.at,
        }


@dataclass(slots=True)
class Trimmed:
    """One trim pass over every outbox."""

    rooms: int = 0
    removed: int = 0
    #: (room, group) -> events trimmed before that group read or acknowledged them
    behind: dict[tuple[str, str], int] = field(default_factory=dict)


class FeedSource(Protocol):
    """Outboxes as the feed sees them. Every method may raise ``EngineUnavailable``."""

    def watch(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(room)`` after each append this process sees at once (the memory
        engine's); a source that cannot (Redis: other nodes append too) is polled."""
        ...

    async def rooms(self) -> list[str]:
        """Every room that has an outbox."""
        ...

    async def lease(self, room: str, endpoint: str, owner: str, ttl_s: float) -> bool:
        """Take or renew the lane (``room``, ``endpoint``) for ``owner``; False when another
        owner holds it."""
        ...

    async def release(self, room: str, endpoint: str, owner: str) -> None: ...

    async def open_lane(self, room: str, endpoint: str, start: float) -> None:
        """Make sure the lane exists; a new one starts after the events appended before
        ``start`` (seconds)."""
        ...

    async def claim(self, room: str, endpoint: str, owner: str, idle_s: float) -> int:
        """Take over what other owners read and left unacknowledged for ``idle_s``; how many."""
        ...

    async def read(self, room: str, endpoint: str, owner: str, count: int) -> Read:
        """Up to ``count`` entries: what this owner read and has not acknowledged yet, else
        new ones."""
        ...

    async def ack(self, room: str, endpoint: str, ids: list[str]) -> None: ...

    async def bury(self, endpoint: str, entries: list[Entry], error: str, attempts: int) -> None:
        """Put ``entries`` in the dead letter (the caller acknowledges them after)."""
        ...

    async def dead(self, limit: int, before: str | None = None) -> list[DeadLetter]:
        """Dead letters, newest first (``before``: only older than this dead-letter id)."""
        ...

    async def dead_count(self) -> int: ...

    async def dead_by_id(self, ids: list[str]) -> list[DeadLetter]:
        """The dead letters among ``ids`` that still exist."""
        ...

    async def unbury(self, ids: list[str]) -> None:
        """Forget dead letters (replayed)."""
        ...

    async def trim(self, max_len: int, max_age_s: float) -> Trimmed:
        """Trim every outbox to ``max_len`` events and ``max_age_s`` (0: no age bound),
        counting what each consumer group loses."""
        ...

    async def endpoints(self) -> list[Endpoint]:
        """Endpoints added by the API (the environment's are the node's settings)."""
        ...

    async def put_endpoint(self, endpoint: Endpoint) -> None: ...

    async def delete_endpoint(self, endpoint: str) -> bool: ...
