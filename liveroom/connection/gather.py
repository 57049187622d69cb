"""A node's commands gathered for a few milliseconds, then run together.

A comment that arrives alone costs the node more than one that arrives with others: its
connection's worker starts on its own, its Redis script goes in a pipeline of one (one write,
then a wake-up for one reply), and its code runs after the core has run something else. In a
platform's evening most comments arrive alone: 2,000 rooms posting one every few seconds each.
``Gather`` holds the connections that have a command to run for ``window`` seconds from the
first of them (``LIVEROOM_COMMAND_GATHER_MS``), then starts their workers one after another in
one callback: their script calls go in one pipeline, their replies come back in one read.

Each command's reply comes later by up to the window, plus the work of the commands started
before it at the window's end (on the memory engine they run to their replies in that
callback), and a room event it makes reaches the room's tick that much later at most. A
connection's commands still run one at a time, in order: only the start of a worker that was
not running waits for the window, and a worker already running takes the connection's next
commands at once. A window of 0 starts every worker where its frame is read, as before the
gather existed. Only the direct transport (``liveroom serve``) gathers; an app mounted in
another server reads its commands on its own tasks. On a Redis Cluster the scripts go one by
one to their slots (``engine/scripts.py``), so there only the wake-ups and the warm code are
shared.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Protocol

log = logging.getLogger("liveroom.session")


class Gathered(Protocol):
    def run_gathered(self) -> None:
        """The window ended: start the commands that came in meanwhile."""


class Gather:
    """The connections waiting for the window's end, and the timer that ends it."""

    __slots__ = ("window", "waiting", "_timer", "_loop")

    def __init__(self, window: float) -> None:
        self.window = window
        self.waiting: list[Gathered] = []
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, member: Gathered) -> None:
        """``member`` has commands to run: it runs at the end of the window under way, or of
        one that starts now."""
        # (the loop is asked for only when a window opens: on Python 3.11 each
        # ``get_running_loop`` makes a ``getpid`` system call, once per command here before)
        loop = self._loop
        if self._timer is None or loop is None or not loop.is_running():
            # none under way (or one left on a loop that has stopped, whose members went with it)
            self.waiting = []
            self._loop = loop = asyncio.get_running_loop()
            # a clean context: the first member's (its connection's log ids) is not the window's
            self._timer = loop.call_later(self.window, self._end, context=contextvars.Context())
        self.waiting.append(member)

    def _end(self) -> None:
        self._timer = None
        waiting, self.waiting = self.waiting, []
        for member in waiting:
            try:
                member.run_gathered()
            except (Exception, asyncio.CancelledError):
                # one member's failure must not leave the others waiting: a member left out
                # would never run a command again (its worker stays this gather). A
                # cancellation is a failure here too: nothing cancels this callback.
                log.exception("starting gathered commands failed")

    def close(self) -> None:
        """The node is closing: the window under way ends now, so that no member is left
        waiting for a timer that will not fire (a member whose connection is gone only settles
        it). A window left on a loop that has gone is dropped, as ``add`` drops it: its members
        went with that loop. A later ``add`` opens a new window."""
        if self._timer is not None:
            self._timer.cancel()
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # closed from outside any loop
            running = None
        if self._loop is not running:
            self.waiting = []
        self._end()
