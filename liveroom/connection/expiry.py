"""``ExpiryWatch``: token expiry for every session of a node, one heap and one timer."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
import weakref
from collections.abc import Callable
from typing import Protocol


class Expiring(Protocol):
    """A session whose token may expire (``liveroom.connection.session.Session``)."""

    @property
    def finished(self) -> bool:
        """The connection is gone."""

    @property
    def watched_at(self) -> float | None:
        """The token expiry the watch holds for it."""

    def expired(self, at: float) -> None:
        """The watch fired for ``at``."""


class ExpiryWatch:
    """Token expiry for every session of a node: one heap and one timer, not one per connection.

    The heap holds sessions weakly: a session that ended is freed at once, with its connection,
    and not kept until its token would have expired (an hour or a day later). What it leaves in
    the heap is an empty entry, dropped when its time comes or at a compaction, once such
    entries outnumber the live sessions. ``Session.expired`` ignores finished sessions and
    stale re-arms.
    """

    def __init__(self, live: Callable[[], int]) -> None:
        self.heap: list[tuple[float, int, weakref.ref[Expiring]]] = []
        self.order = itertools.count()
        self.live = live
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0

    def watch(self, session: Expiring, at: float) -> None:
        heapq.heappush(self.heap, (at, next(self.order), weakref.ref(session)))
        if len(self.heap) > 1024 and len(self.heap) > 2 * self.live():
            self.heap = [e for e in self.heap if _armed(e)]
            heapq.heapify(self.heap)
        self._arm()

    def _arm(self) -> None:
        if not self.heap:
            return
        at = self.heap[0][0]
        if self.timer is not None:
            if self.timer_at <= at:
                return
            self.timer.cancel()
        loop = asyncio.get_running_loop()
        self.timer_at = at
        self.timer = loop.call_later(max(at - time.time(), 0), self._fire)

    def _fire(self) -> None:
        self.timer = None
        now = time.time()
        while self.heap and self.heap[0][0] <= now:
            at, _, ref = heapq.heappop(self.heap)
            session = ref()
            if session is not None:
                session.expired(at)
        self._arm()

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.heap.clear()


def _armed(entry: tuple[float, int, weakref.ref[Expiring]]) -> bool:
    """Whether an expiry entry still stands for a live session's current token."""
    session = entry[2]()
    return session is not None and not session.finished and session.watched_at == entry[0]
