"""The keywords a feature has open in each room, as this node holds them: red packets and coupon
batches open to whoever comments a keyword. Every accepted comment is checked against them, so
the check must cost next to nothing when nothing is open (most rooms, most of the time)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from liveroom.features import Feature

#: how long the keywords read from the store serve at most. The events that change them drop
#: them first (``changed``), and so does a jump of the room's stream; this bounds the rest.
KEYWORD_CACHE_S = 30.0
#: rooms held at most; past it the cache starts over
MAX_ROOMS = 4096


class RoomKeywords:
    """One feature's open keywords per room, read from its store (``read``) and kept until an
    event of the feature is relayed in the room (``changed``), the room's stream jumps
    (``Feature.stream_mark``), or ``KEYWORD_CACHE_S`` passes. A room with nothing open is then
    read once, not at every comment: its comments cost no store read.

    A comment follows a room offset (``after``); every keyword opened before it, on any node,
    must count. The cache serves a comment only once this node has relayed every event of the
    room up to that offset (``Feature.caught_up``); otherwise the store is read. Keywords that
    open or close with time alone are read with their batch or packet (a scheduled batch's
    keyword is read as open), so no change goes without an event.
    """

    def __init__(self, feature: Feature, read: Callable[[str], Awaitable[frozenset[str]]]) -> None:
        self.feature = feature
        self.read = read
        #: room -> (good until, on the monotonic clock; the keywords; the room's stream mark)
        self._cached: dict[str, tuple[float, frozenset[str], tuple[object, int] | None]] = {}
        #: per room, events of the feature this node relayed: a read they overtook is not kept
        self._generations: dict[str, int] = {}

    def changed(self, room: str) -> None:
        """An event of the feature was relayed in ``room``: what is held may be stale."""
        self._generations[room] = self._generations.get(room, 0) + 1
        self._cached.pop(room, None)

    def forget(self, room: str) -> None:
        """This node opened a keyword in ``room`` itself: read again at the next comment."""
        self._cached.pop(room, None)

    def may_match(self, room: str, text: str, after: int | None) -> bool:
        """Whether ``text`` may be an open keyword of ``room``, without waiting: False only
        when the held keywords are fresh, hold every event up to ``after``, and lack it."""
        cached = self._cached.get(room)
        if (
            cached is None
            or cached[0] <= time.monotonic()
            or not self.feature.unmoved(room, cached[2], after)
        ):
            return True
        return text in cached[1]

    async def get(self, room: str, after: int | None) -> frozenset[str]:
        """The room's open keywords, counting every one opened before offset ``after``."""
        cached = self._cached.get(room)
        if cached is not None and cached[0] > time.monotonic():
            if after is None or await self.feature.caught_up(room, after):
                cached = self._cached.get(room)  # an event relayed meanwhile dropped it
                if cached is not None and cached[2] == self.feature.stream_mark(room):
                    return cached[1]
        generation = self._generations.get(room, 0)
        mark = self.feature.stream_mark(room)
        expires = time.monotonic() + KEYWORD_CACHE_S
        found = await self.read(room)
        if self._generations.get(room, 0) == generation:
            if len(self._cached) > MAX_ROOMS:
                self._cached.clear()
            self._cached[room] = (expires, found, mark)
        return found
