"""The node's token-expiry watch: one heap, one timer; refreshes do not pile up entries."""

from __future__ import annotations

import asyncio
import time
import weakref

from liveroom.connection.expiry import ExpiryWatch


class Watched:
    """A session as the watch sees it: finished, the expiry it holds, and ``expired``."""

    def __init__(self) -> None:
        self.finished = False
        self.watched_at: float | None = None
        self.fired: list[float] = []
        self.done = asyncio.Event()

    def watch(self, watch: ExpiryWatch, at: float) -> None:
        self.watched_at = at
        watch.watch(self, at)  # type: ignore[arg-type]

    def expired(self, at: float) -> None:
        if at == self.watched_at:
            self.fired.append(at)
            self.done.set()


async def test_expiry_fires_once_for_the_current_expiry() -> None:
    """A refresh moves the expiry: the old one is ignored, the new one fires."""
    watch = ExpiryWatch(lambda: 1)
    session = Watched()
    now = time.time()
    session.watch(watch, now + 0.05)
    session.watch(watch, now + 0.1)
    await asyncio.wait_for(session.done.wait(), 5)
    assert session.fired == [now + 0.1]
    watch.close()


async def test_refreshes_are_compacted_away() -> None:
    """Thousands of refreshes by live sessions leave about one entry per session."""
    sessions = [Watched() for _ in range(10)]
    watch = ExpiryWatch(lambda: len(sessions))
    far = time.time() + 3600
    for n in range(500):
        for session in sessions:
            session.watch(watch, far + n)
    assert len(watch.heap) <= 1024 + len(sessions)
    current = [e for e in watch.heap if (s := e[2]()) is not None and s.watched_at == e[0]]
    assert len(current) == len(sessions)  # each live session keeps its one current entry
    watch.close()


async def test_an_ended_session_is_not_kept_for_its_expiry() -> None:
    """The watch holds sessions weakly: one that ended (and is dropped by everything else) is
    freed at once, not an hour later when its token would have expired; the watch then fires
    for the others as before."""
    watch = ExpiryWatch(lambda: 1)
    now = time.time()
    ended, staying = Watched(), Watched()
    ended.watch(watch, now + 3600)
    staying.watch(watch, now + 0.05)
    gone = weakref.ref(ended)
    ended.finished = True
    del ended
    assert gone() is None, "the expiry watch kept an ended session alive"
    await asyncio.wait_for(staying.done.wait(), 5)
    assert len(watch.heap) == 1  # the ended session's entry, empty, waits for its time
    watch.close()
