"""The keywords a feature has open in each room, as this node holds them: red packets and coupon
batches open to whoever comments a keyword. Every accepted comment is checked against them, so
the check must cost next to nothing when nothing is open (most rooms, most of the time)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Container, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from liveroom.features import Held, unmoved_at

if TYPE_CHECKING:
    from liveroom.auth import Identity
    from liveroom.features import Feature

#: how long the keywords read from the store serve at most. The events that change them drop
#: them first (``changed``), and so does a jump of the room's stream; this bounds the rest.
KEYWORD_CACHE_S = 30.0
#: rooms held at most; past it the cache starts over
MAX_ROOMS = 4096


class KeywordGate:
    """A node's keyword features (``Feature.keyword_max``), asked about a short comment
    together: one look at the room and the clock for all of them, and a feature's ``heard``
    called only when what it holds (``held_keywords``) cannot rule the comment out. Most short
    comments match no keyword, in rooms whose keywords are held: they cost each feature a look
    at what it holds, and no call of its own."""

    def __init__(self, rooms: Mapping[str, Any], features: list[Feature]) -> None:
        #: the node's local rooms (``Hub.rooms``)
        self.rooms = rooms
        #: each feature, its longest keyword, and what it holds (``Feature.held_keywords``:
        #: one mapping for the feature's life, so it is read here once)
        self.features = [(f, f.keyword_max or 0, f.held_keywords) for f in features]
        #: the longest keyword of any: a longer comment asks no one
        self.longest = max((most for _, most, _ in self.features), default=0)

    def ask(
        self, room: str, who: Identity, text: str, after: int | None, asked: list[Feature]
    ) -> None:
        """Add to ``asked`` the features whose ``heard`` asks for ``commented`` about ``text``
        (stripped, 1 to ``longest`` characters) posted in ``room`` after offset ``after``."""
        local = self.rooms.get(room)
        now = time.monotonic()
        for feature, most, held in self.features:
            if len(text) > most:
                continue
            entry = held.get(room) if held is not None else None
            if (
                entry is not None
                and entry[0] > now
                and text not in entry[1]
                and unmoved_at(local, entry[2], entry[3], after)
            ):
                continue  # its keywords, fresh and up to the comment, lack the text
            if feature.heard(room, who, text, after):
                asked.append(feature)


class RoomKeywords:
    """One feature's open keywords per room, read from its store (``read``) and kept until an
    event of the feature is relayed in the room (``changed``), the room's stream jumps
    (``Feature.stream_mark``), ``KEYWORD_CACHE_S`` passes, or the hub lets go of the room's
    local room (``forget_dropped``). A room with nothing open is then read once, not at every
    comment: its comments cost no store read.

    A comment follows a room offset (``after``); every keyword opened before it, on any node,
    must count. The cache serves a comment only once this node has relayed every event of the
    room up to that offset (``Feature.caught_up``); otherwise the store is read. Keywords that
    open or close with time alone are read with their batch or packet (a scheduled batch's
    keyword is read as open), so no change goes without an event.
    """

    def __init__(self, feature: Feature, read: Callable[[str], Awaitable[frozenset[str]]]) -> None:
        self.feature = feature
        self.read = read
        #: room -> its keywords as held (``Held``), for ``may_match`` and the node's gate
        self.held: dict[str, Held] = {}
        #: per room, events of the feature this node relayed: a read they overtook is not kept
        self._generations = Generations()

    def changed(self, room: str) -> None:
        """An event of the feature was relayed in ``room``: what is held may be stale."""
        self._generations.moved(room)
        self.held.pop(room, None)

    def forget(self, room: str) -> None:
        """This node opened a keyword in ``room`` itself: read again at the next comment."""
        self.held.pop(room, None)

    def may_match(self, room: str, text: str, after: int | None) -> bool:
        """Whether ``text`` may be an open keyword of ``room``, without waiting: False only
        when the held keywords are fresh, hold every event up to ``after``, and lack it."""
        held = self.held.get(room)
        return (
            held is None
            or held[0] <= time.monotonic()
            or text in held[1]
            or not self.feature.unmoved(room, entry_mark(held), after)
        )

    async def get(self, room: str, after: int | None) -> frozenset[str]:
        """The room's open keywords, counting every one opened before offset ``after``."""
        cached = self.held.get(room)
        if cached is not None and cached[0] > time.monotonic():
            if after is None or await self.feature.caught_up(room, after):
                cached = self.held.get(room)  # an event relayed meanwhile dropped it
                if cached is not None and self.feature.unmoved(room, entry_mark(cached), None):
                    return cached[1]
        generation = self._generations.of(room)
        mark = self.feature.stream_mark(room)
        expires = time.monotonic() + KEYWORD_CACHE_S
        found = await self.read(room)
        if self._generations.of(room) == generation:
            if len(self.held) > MAX_ROOMS:
                self.held.clear()
            self.held[room] = held_entry(expires, found, mark)
        return found

    def forget_dropped(self, rooms: Mapping[str, object]) -> None:
        """Keep only what was read under the local room the hub holds now (``rooms``:
        ``Hub.rooms``). Each entry holds its stream mark, the ``LocalRoom`` itself, so an entry
        of a room the hub dropped (idle) kept that room alive with its event ring; with room ids
        one per broadcast, that was up to ``MAX_ROOMS`` dead rooms. Such an entry could serve
        again only if the hub took the very same room back (``Hub.join``), and a read of the
        store does as well then."""
        # in place: the node's keyword gate keeps this mapping
        forget_unheld(self.held, lambda entry: entry[2], rooms)
        self._generations.keep_only(rooms)

    async def forget_dropped_each_pulse(self) -> None:
        """``forget_dropped`` at the pulse's cadence, for the feature's life: its ``open``
        starts this, its ``close`` stops it."""
        ctx = self.feature.ctx
        while True:
            await asyncio.sleep(ctx.settings.pulse_s)
            self.forget_dropped(ctx.hub.rooms)


T = TypeVar("T")


def forget_unheld(
    cache: dict[str, T], local_of: Callable[[T], object | None], rooms: Mapping[str, object]
) -> list[str]:
    """Delete from ``cache`` (in place) each room's entry that was not read under the local
    room ``rooms`` (``Hub.rooms``) holds now (``local_of``: the ``LocalRoom`` an entry was read
    under, or None); the rooms deleted."""
    gone = [
        room
        for room, entry in cache.items()
        if (local := local_of(entry)) is None or local is not rooms.get(room)
    ]
    for room in gone:
        del cache[room]
    return gone


class Generations:
    """Per room, a stamp a feature moves whenever it relays one of its events there
    (``moved``). A read of the store takes the room's stamp (``of``) before it goes, and its
    answer is kept only if the stamp is the same when it comes back: an event relayed meanwhile
    may be newer than the answer.

    ``keep_only`` forgets the rooms the hub no longer holds, so a node keeps no stamp for every
    room it ever hosted. A stamp forgotten while a read was out must not come back as the one
    that read took: every stamp is new (one counter for all rooms), and a room without a stamp
    of its own reads the one taken at the last forgetting. A read of such a room that was out
    across that forgetting is then not kept either; it is read again when next needed."""

    __slots__ = ("_stamps", "_last", "_unstamped")

    def __init__(self) -> None:
        self._stamps: dict[str, int] = {}
        self._last = 0
        self._unstamped = 0

    def of(self, room: str) -> int:
        """The room's stamp now."""
        return self._stamps.get(room, self._unstamped)

    def moved(self, room: str) -> None:
        """An event of the feature was relayed in ``room``."""
        self._last += 1
        self._stamps[room] = self._last

    def keep_only(self, rooms: Container[str]) -> None:
        """Forget the stamps of the rooms not in ``rooms``."""
        gone = [room for room in self._stamps if room not in rooms]
        if gone:
            for room in gone:
                del self._stamps[room]
            self._last += 1
            self._unstamped = self._last


def held_entry(expires: float, words: frozenset[str], mark: tuple[object, int] | None) -> Held:
    """``words`` held until ``expires``, read under the stream mark ``mark``."""
    return (expires, words, None, 0) if mark is None else (expires, words, mark[0], mark[1])


def entry_mark(entry: Held) -> tuple[object, int] | None:
    """The stream mark ``entry`` was read under (``Feature.stream_mark``)."""
    return None if entry[2] is None else (entry[2], entry[3])
