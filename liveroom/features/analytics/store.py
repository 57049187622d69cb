"""What the host's analytics keeps of a room, and the ``AnalyticsStore`` contract.

``MemoryAnalytics`` (``store_memory.py``) and ``RedisAnalytics`` (``store_redis.py``, one Lua
script per write, every key of a room under its hash tag) fulfil it. A room's data, written by
every node (``Batch``) and read back whole (``RoomData``):

- ``users``: user -> the time of their first join and their profile then (JSON: source,
  audience claims, returning); of the nodes' reports, the earliest join wins;
- ``intervals``: user -> the closed connected intervals nodes reported (possibly overlapping:
  two tabs, two nodes); ``open``: the intervals still open, per node, and ``nodes``: each
  node's last write, so an interval of a node that stopped writing ends there;
- ``counts``: counters (totals, per minute ``m:<minute>:<name>``, per hour, per card), and
  ``n:<name>`` for distinct users marked under ``name``;
- ``boards``: every card board version reported, with its time and skus; the pins follow from
  them in version order (``report.pins``), whatever order nodes wrote them in.

Every write refreshes the room's keep time (``Settings.analytics_keep_days``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from liveroom.features.analytics.tally import Batch


@dataclass(slots=True)
class RoomData:
    """Everything kept of one room, read in one go."""

    first: float = 0.0
    last: float = 0.0
    host: str = ""
    users: dict[str, tuple[float, bytes]] = field(default_factory=dict)  # first join, profile
    intervals: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    open: list[tuple[str, str, float]] = field(default_factory=list)  # node, user, start
    nodes: dict[str, float] = field(default_factory=dict)
    #: of the nodes in ``nodes``, each one's last beat (``AnalyticsStore.beat``), where kept
    beats: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    boards: dict[int, tuple[float, list[str]]] = field(default_factory=dict)  # version -> at, skus


class AnalyticsStore(Protocol):
    async def returning(self, host: str, room: str, users: list[str], keep_s: float) -> list[bool]:
        """Note ``users`` as seen in ``room`` of ``host``; for each, whether they were seen in
        another room of that host first. Raises ``EngineUnavailable``."""
        ...

    async def write(
        self, batch: Batch, node: str, profiles: dict[str, tuple[float, bytes]], keep_s: float
    ) -> None:
        """Add one node's batch to its room in one atomic step (``profiles``: the batch's
        newcomers, their first join here and encoded profile). Raises ``EngineUnavailable``."""
        ...

    async def write_many(
        self, batches: list[Batch], node: str, keep_s: float
    ) -> list[Exception | None]:
        """``write`` each of ``batches`` (none with newcomers: no profiles), in one store call
        for all of them where the store can. Each batch's outcome in its place: None when it
        was written, else what refused it (``EngineUnavailable``: it was not written, and may
        be tried again); the others were written all the same."""
        ...

    async def beat(self, node: str, now: float, keep_s: float) -> None:
        """Note that ``node`` is alive at ``now``, for every room at once: what keeps the
        intervals it holds open in its quiet rooms live in a report. Beats older than
        ``keep_s`` may be forgotten. Raises ``EngineUnavailable``."""
        ...

    async def add_spend(self, room: str, hour: int, cents: int, now: float, keep_s: float) -> None:
        """Add ad spend to ``room``'s hour starting at ``hour``."""
        ...

    async def read(self, room: str, now: float) -> RoomData | None:
        """The room's data, None when nothing was ever written (or it is past its keep time);
        its ``beats`` hold the last beat of each of its nodes that has one."""
        ...


def parse_intervals(text: str) -> list[tuple[float, float]]:
    """``"start,end;start,end;"`` as pairs (how intervals are kept as one string)."""
    out = []
    for part in text.split(";"):
        if part:
            start, _, end = part.partition(",")
            out.append((float(start), float(end)))
    return out
