"""MemoryPrivateStore: follows, cards and bookings in this process's memory, for the memory
engine (see ``store.py``).

Every method runs to its end without suspending (``room_info`` is the memory engine's, which
never awaits anything), so each is one atomic step, and its business event is appended in it
(``emit_now``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from liveroom.features.private.store import (
    ANNOUNCE_BATCH,
    INDEX_GRACE_S,
    OFFERED_TTL_S,
    Announced,
    Booked,
    Booking,
    Followed,
    PrivateStore,
    Round,
    Schedule,
)

#: how often ``offer_once`` looks for rooms whose offers have all expired
OFFERED_SWEEP_S = 3600.0

Emit = Callable[[str, str, dict[str, Any]], str]
RoomInfo = Callable[[str], Awaitable[dict[str, Any] | None]]


@dataclass(slots=True)
class _Round:
    state: Round
    title: str
    starts: float
    scheduled: float
    booked: dict[str, float] = field(default_factory=dict)  # user -> when booked
    pending: list[str] = field(default_factory=list)  # booked, not announced yet


class MemoryPrivateStore:
    """Satisfies ``PrivateStore``. ``clock`` is the memory engine's; ``room_info`` its room
    settings (None: never stored); ``emit`` appends a business event."""

    def __init__(self, clock: Callable[[], float], room_info: RoomInfo, emit: Emit) -> None:
        self.clock = clock
        self.room_info = room_info
        self.emit = emit
        self._followers: dict[str, set[str]] = {}
        self._cards: dict[tuple[str, str], dict[str, Any]] = {}
        #: room -> the paid orders offered the service card, and when the last was; a room's
        #: set is dropped ``OFFERED_TTL_S`` after its last offer, as Redis expires it
        self._offered: dict[str, tuple[set[str], float]] = {}
        self._offered_swept = 0.0
        self._rounds: dict[str, _Round] = {}
        self._index: set[str] = set()  # rooms the sweepers visit

    async def follow(self, scope: str, room: str, user: str, host: str) -> Followed:
        fans = self._followers.setdefault(scope, set())
        new = user not in fans
        if new:
            fans.add(user)
            self.emit(scope, "user.followed", _follow_event(user, host, room, len(fans)))
        return Followed(new, len(fans))

    async def unfollow(self, scope: str, room: str, user: str, host: str) -> Followed:
        fans = self._followers.get(scope, set())
        was = user in fans
        if was:
            fans.discard(user)
            self.emit(scope, "user.unfollowed", _follow_event(user, host, room, len(fans)))
        return Followed(was, len(fans))

    async def follows(self, scope: str, user: str) -> bool:
        return user in self._followers.get(scope, ())

    async def followers(self, scope: str) -> int:
        return len(self._followers.get(scope, ()))

    async def put_card(self, owner: str, name: str, card: dict[str, Any] | None) -> None:
        if card is None:
            self._cards.pop((owner, name), None)
        else:
            self._cards[(owner, name)] = dict(card)

    async def card(self, owner: str, name: str) -> dict[str, Any] | None:
        card = self._cards.get((owner, name))
        return dict(card) if card is not None else None

    async def offer_once(self, room: str, key: str) -> bool:
        now = self.clock()
        if now - self._offered_swept >= OFFERED_SWEEP_S:  # (rooms long quiet, as Redis would)
            self._offered_swept = now
            quiet = [r for r, (_, last) in self._offered.items() if now - last >= OFFERED_TTL_S]
            for gone in quiet:
                del self._offered[gone]
        held = self._offered.get(room)
        offered = held[0] if held is not None and now - held[1] < OFFERED_TTL_S else set()
        self._offered[room] = (offered, now)
        if key in offered:
            return False
        offered.add(key)
        return True

    async def schedule(self, room: str, title: str, starts: float) -> Booked:
        live = _live(await self.room_info(room))
        now = self.clock()
        self._index.add(room)  # as on Redis: indexed first, whatever the answer
        current = self._rounds.get(room)
        if live:
            return Booked(Booking.ROOM_LIVE, schedule=_public(current))
        if current is not None and current.state is Round.STARTED and current.pending:
            return Booked(Booking.BUSY, schedule=_public(current))
        if current is None or current.state is Round.STARTED:
            current = self._rounds[room] = _Round(Round.OPEN, title, starts, now)
        else:
            current.title, current.starts, current.scheduled = title, starts, now
        return Booked(Booking.OK, schedule=_public(current))

    async def book(self, room: str, user: str) -> Booked:
        live = _live(await self.room_info(room))
        current = self._rounds.get(room)
        if current is None:
            return Booked(Booking.NOT_SCHEDULED)
        if live or current.state is Round.STARTED:
            code = Booking.ROOM_LIVE if live else Booking.ROOM_ENDED
            return Booked(code, schedule=_public(current))
        new = user not in current.booked
        if new:
            current.booked[user] = self.clock()
            current.pending.append(user)
            self.emit(room, "room.booked", _booked_event(user, current))
        return Booked(Booking.OK, new, _public(current))

    async def booked(self, room: str, user: str) -> bool:
        current = self._rounds.get(room)
        return current is not None and user in current.booked

    async def round(self, room: str) -> Schedule | None:
        return _public(self._rounds.get(room))

    async def announce(self, room: str, batch: int = ANNOUNCE_BATCH) -> Announced:
        info = await self.room_info(room)
        current = self._rounds.get(room)
        if current is None:
            return Announced(False, 0, 0)
        if current.state is Round.OPEN:
            if not _live(info):
                return Announced(False, 0, len(current.pending))
            current.state = Round.STARTED
        title = (info or {}).get("title") or current.title
        taken, current.pending = current.pending[:batch], current.pending[batch:]
        for user in taken:
            self.emit(room, "room.started", _started_event(user, title, current.booked[user]))
        return Announced(True, len(taken), len(current.pending))

    async def rounds(self) -> list[str]:
        return sorted(self._index)

    async def retire(self, room: str, grace_s: float = INDEX_GRACE_S) -> bool:
        current = self._rounds.get(room)
        done = current is None or (current.state is Round.STARTED and not current.pending)
        if room not in self._index or not done:
            return False
        if current is not None and self.clock() - current.scheduled < grace_s:
            return False
        self._index.discard(room)
        return True

    async def ledger(self, room: str) -> dict[str, bool]:
        current = self._rounds.get(room)
        if current is None:
            return {}
        waiting = set(current.pending)
        return {user: user not in waiting for user in current.booked}


def _live(info: dict[str, Any] | None) -> bool:
    """A room is live once its settings are stored, until they say ``ended``."""
    return info is not None and info.get("ended") is not True


def _public(current: _Round | None) -> Schedule | None:
    if current is None:
        return None
    return Schedule(current.state, current.title, current.starts, len(current.booked))


def _follow_event(user: str, host: str, room: str, followers: int) -> dict[str, Any]:
    return {"user": user, "host": host or None, "in_room": room, "followers": followers}


def _booked_event(user: str, current: _Round) -> dict[str, Any]:
    return {"user": user, "title": current.title, "starts": current.starts or None}


def _started_event(user: str, title: str, booked: float) -> dict[str, Any]:
    return {"user": user, "title": title, "booked": round(booked, 3)}


#: the static conformance check (mypy): a ``MemoryPrivateStore`` is a ``PrivateStore``
_satisfies: Callable[[Callable[[], float], RoomInfo, Emit], PrivateStore] = MemoryPrivateStore
