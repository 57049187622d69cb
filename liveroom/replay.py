"""Replaying a room's history to one viewer: in bounded pieces, a bounded number at once.

A node restart or a load balancer's reload drops every viewer of the node at once, and they all
come back with their offsets. Each resume (``connection.handshake``) and each joining viewer too
far behind the room's ring (``Hub.catch_up``) replays the events it missed from the engine.
Read whole and sent whole, one replay of 2,000 events holds the event loop for one long read and
one long write, and thousands at once hold all their events in memory together while live rooms
wait. ``Replays.replay`` instead reads ``CATCHUP_CHUNK`` events at a time
(``RoomBus.history_page``), sends each piece as one frame, and lets the loop run other work
before the next piece; at most ``Settings.resume_reads`` replays run at once, and the others
wait for a turn holding nothing but their connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from liveroom import metrics
from liveroom.engine.base import RoomBus
from liveroom.localroom import CATCHUP_CHUNK, Viewer
from liveroom.protocol import frame, offset_of

__all__ = ["Replay", "Replays"]


@dataclass(frozen=True, slots=True)
class Replay:
    """How a replay ended. ``complete``: every event from the viewer's offset up to ``head``
    (the room's head when the replay began, or later) was sent. Otherwise history no longer
    reached back (the caller resets the viewer); ``sent`` events may have gone out before a
    trim caught up with the replay, or the stream is on another epoch (``epoch``, the stream's
    epoch as the last piece found it)."""

    complete: bool
    head: int
    sent: int
    epoch: str


class Replays:
    """The node's history replays; at most ``reads`` at once."""

    def __init__(self, engine: RoomBus, reads: int, chunk: int = CATCHUP_CHUNK) -> None:
        self.engine = engine
        self.chunk = chunk
        self._turns = asyncio.Semaphore(reads)

    async def replay(self, room: str, viewer: Viewer) -> Replay:
        """Send ``viewer`` the events of ``room`` after ``viewer.offset`` of ``viewer.epoch``,
        a frame per piece,
        until it holds the room's head as of the first piece; ``viewer.offset`` follows what was
        sent, so a replay cut short (``EngineUnavailable``, raised) can go on from there. Stops
        early if the viewer leaves."""
        metrics.RESUMES_WAITING.inc()
        try:
            await self._turns.acquire()
        finally:
            metrics.RESUMES_WAITING.dec()
        try:
            return await self._pieces(room, viewer)
        finally:
            self._turns.release()

    async def _pieces(self, room: str, viewer: Viewer) -> Replay:
        target: int | None = None
        sent = 0
        while True:
            page = await self.engine.history_page(room, viewer.offset, self.chunk, viewer.epoch)
            if not page.complete:
                return Replay(False, page.head, sent, page.epoch)
            if target is None:
                target = page.head
            if page.events:
                viewer.send(frame(page.events))
                viewer.offset = offset_of(page.events[-1])
                sent += len(page.events)
            if viewer.offset >= target or not page.events or viewer.left:
                return Replay(True, max(target, viewer.offset), sent, page.epoch)
            # the memory engine answers without suspending: let live rooms flush in between
            await asyncio.sleep(0)
