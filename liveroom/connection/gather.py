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

**The read hold.** A window gathers the commands, but each frame still woke the node from
``epoll_wait`` as it came: at 2,000 comments a second, about 600 wake-ups a second, and on a
virtual machine a wake-up costs the process tens of microseconds of CPU before any of its code
runs (BENCHMARKS.md, "Session 52"). Where the engine never waits on a network
(``Engine.holds_reads``: the memory engine), the node's thread therefore sleeps once a window
opens, until the window's end, or the hub's next tick if that comes first (``hold_until``),
for ``HOLD_MAX_S`` at most. The frames that come meanwhile wait in the kernel and are read
together when it wakes, still within the window: one wake-up for them all. A hold that the
tick ended goes on once the tick's flushes have run (``hold_again``), to the window's end (or
the next tick, ``HOLD_MAX_S`` at most). A gathered command's reply comes no later than it did.
Nothing else runs while the thread sleeps: a handshake, an HTTP call, a webhook, a write that
waits for its socket each wait at every turn of the loop that falls behind a hold, by up to the
window. Setting ``LIVEROOM_COMMAND_GATHER_HOLD`` to false turns the hold off. On Redis the node
does not hold: the scripts of the window before may be on their way back, and their replies
would wait.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable
from typing import Protocol

from liveroom import metrics

log = logging.getLogger("liveroom.session")

#: a hold shorter than this is not worth its own wake-up
HOLD_MIN_S = 0.001
#: the longest hold, whatever the window (up to 1 s) and the tick: the node's pings, health
#: checks and handshakes wait for a hold to end
HOLD_MAX_S = 0.05


class Gathered(Protocol):
    def run_gathered(self) -> None:
        """The window ended: start the commands that came in meanwhile."""


class Gather:
    """The connections waiting for the window's end, and the timer that ends it."""

    __slots__ = ("window", "waiting", "hold_until", "_timer", "_loop", "_hold_queued")

    def __init__(self, window: float, hold_until: Callable[[], float] | None = None) -> None:
        """``hold_until``: when a window opens, the thread sleeps (the read hold, above) until
        the window's end or the time this answers (on the loop's clock), whichever is first,
        and ``HOLD_MAX_S`` at most; None: no hold."""
        self.window = window
        self.waiting: list[Gathered] = []
        self.hold_until = hold_until
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: a hold is queued and has not run yet: one is enough for a turn (``hold_again``)
        self._hold_queued = False

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
            context = contextvars.Context()
            self._timer = loop.call_later(self.window, self._end, context=context)
            if self.hold_until is not None:
                # after the callbacks of this turn: the frames read with this one join first
                self._hold_queued = True
                loop.call_soon(self._hold, self._timer, context=context)
        self.waiting.append(member)

    def _hold(self, timer: asyncio.TimerHandle) -> None:
        """Sleep until ``timer``'s window ends, or the next tick if that is sooner (and
        ``HOLD_MAX_S`` at most), so that the frames which come meanwhile are read in one
        wake-up (the read hold, above).

        This runs among the loop's ready callbacks, and the loop polls before it runs the
        timers that are due (libuv, and asyncio's loop alike): the poll right after the sleep
        reads every frame that came, before the window's timer ends it, so those frames are
        in the window."""
        self._hold_queued = False
        hold_until = self.hold_until
        if timer is not self._timer or hold_until is None:  # that window has ended
            return
        loop = self._loop
        assert loop is not None
        now = loop.time()
        left = min(timer.when(), hold_until(), now + HOLD_MAX_S) - now
        if left >= HOLD_MIN_S:
            time.sleep(left)
            # uvloop's clock is libuv's, read at the turn's start: reading it again brings it
            # past the sleep, else the poll would take the window's timer as still that far off
            # and, with no frame come, wait out the slept time a second time
            metrics.GATHER_HOLD_SECONDS.inc(loop.time() - now)

    def hold_again(self) -> None:
        """The hub's tick has run (``Hub.after_tick``). A window under way had its hold end at
        that tick: it holds again, after the callbacks the tick left for this turn, to its end
        or the next tick (``HOLD_MAX_S`` at most). Without this, the rest of the window was read
        a frame at a time, each frame a wake-up, as without the hold. Nothing is queued for a
        window left on a loop that no longer runs, nor when a hold is queued already."""
        timer, loop = self._timer, self._loop
        if (
            timer is None
            or loop is None
            or self.hold_until is None
            or self._hold_queued
            or not loop.is_running()
        ):
            return
        self._hold_queued = True
        loop.call_soon(self._hold, timer, context=contextvars.Context())

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
