"""Keep-alive pings as one sweep per node instead of two timers per connection.

uvicorn arms a ping timer for every connection, and a pong timer after each ping: with 19,000
viewers that is about 1,900 timers a second to arm, fire and cancel, and a timer handle held by
every idle connection. Here each event loop has one ``Sweep`` for a ping interval. Its members
(the protocols of the connections) are dealt round-robin into slices, and one slice is swept per
``interval / slices`` seconds, so every member is visited once per interval and the work of a
visit is spread over the interval as the per-connection timers spread it.

A visit (``Member.keepalive_round``) decides what the connection needs: a connection heard from
since its last visit needs no ping; one pinged at its last visit that has not answered is closed;
one whose peer's TCP acknowledged frames lately may be spared, except on every third lap of the
sweep (``spare``; each slice's third lap in its turn), so that a connection not heard from is
pinged at least every third interval; any other gets a ping. The ping frames of a visit carry
the sweep's round number, built once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

log = logging.getLogger("liveroom.transport")

#: the longest time between two slices: at most this long a ping comes late
SLICE_S = 0.25
#: every this many laps of the sweep, no connection's ping is spared
FORCED_LAP = 3


class Member(Protocol):
    def keepalive_round(self, ping: bytes, payload: bytes, spare: bool) -> None:
        """Visited once per interval: ``ping`` is a whole server ping frame carrying
        ``payload``; ``spare``: the ping may be skipped if the peer is known to be there."""


class Sweep:
    """One loop's keep-alive sweep for one interval: ``Sweep.of(loop, interval)``."""

    _sweeps: dict[tuple[asyncio.AbstractEventLoop, float], Sweep] = {}

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop, interval: float) -> Sweep:
        """The loop's sweep for ``interval``, made on first use."""
        sweep = cls._sweeps.get((loop, interval))
        if sweep is None:
            sweep = cls._sweeps[(loop, interval)] = cls(loop, interval)
        return sweep

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self.loop = loop
        self.interval = interval
        count = max(1, round(interval / SLICE_S))
        self.period = interval / count
        self.slices: list[dict[Member, None]] = [{} for _ in range(count)]
        self.place = 0  # the slice the next member joins
        self.turn = 0  # the slice swept next
        self.round = 0
        self.laps = 0  # whole passes over the slices: each member's visits, counted
        self.members = 0
        self.timer: asyncio.TimerHandle | None = None

    def add(self, member: Member) -> dict[Member, None]:
        """Visit ``member`` once per interval from now on; returns its slice, for ``remove``."""
        where = self.slices[self.place]
        self.place = (self.place + 1) % len(self.slices)
        where[member] = None
        self.members += 1
        if self.timer is None:
            self.timer = self.loop.call_later(self.period, self._sweep)
        return where

    def remove(self, member: Member, where: dict[Member, None]) -> None:
        if where.pop(member, 0) is None:
            self.members -= 1
        if not self.members:  # an idle node keeps no timer; the next member starts it again
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            if self._sweeps.get((self.loop, self.interval)) is self:
                del self._sweeps[(self.loop, self.interval)]

    def _sweep(self) -> None:
        self.timer = self.loop.call_later(self.period, self._sweep)
        turn = self.turn
        if not turn:
            self.laps += 1
        where = self.slices[turn]
        self.turn = (turn + 1) % len(self.slices)
        if not where:
            return
        # each slice's forced lap in its turn, so that the forced pings (and their pongs) are
        # spread over the laps as the slices spread the visits
        spare = (self.laps + turn) % FORCED_LAP != 0
        self.round = (self.round + 1) & 0xFFFFFFFF
        payload = self.round.to_bytes(4, "big")
        ping = b"\x89\x04" + payload  # final ping frame, unmasked (server to client), 4 bytes
        for member in list(where):  # a visit may close its connection, which removes it
            try:
                member.keepalive_round(ping, payload, spare)
            except Exception:  # one broken connection does not stop the others' pings
                log.exception("keep-alive visit failed")
