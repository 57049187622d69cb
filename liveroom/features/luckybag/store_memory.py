"""The lucky-bag store on ``MemoryEngine``: plain dicts, atomic because nothing awaits midway.

Events are published through the engine's ``MemoryHost`` in the same synchronous step as the
state change they announce."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from liveroom.features.luckybag.store import Answer, Bag, BagState, Claim, Draw, Outcome

if TYPE_CHECKING:
    from collections.abc import Sequence

    from liveroom.engine.base import MemoryHost

#: the days of win counts a room keeps (Redis keeps each day's for three days: ``WINS_TTL_S``)
WINS_DAYS_KEPT = 3


@dataclass(slots=True)
class _Entry:
    bag: Bag
    users: dict[str, str] = field(default_factory=dict)
    token: str = ""
    lease: float = 0.0


@dataclass(slots=True)
class _Room:
    bags: dict[str, _Entry] = field(default_factory=dict)
    current: str = ""
    wins: dict[str, dict[str, int]] = field(default_factory=dict)  # day -> user -> wins
    nodes: dict[str, tuple[float, set[str]]] = field(default_factory=dict)  # node -> expiry, users


class MemoryBagStore:
    """Satisfies ``BagStore`` for one process."""

    def __init__(self, host: MemoryHost) -> None:
        self.host = host
        self._rooms: dict[str, _Room] = {}
        self._due: dict[tuple[str, str], float] = {}

    def _room(self, room: str) -> _Room:
        return self._rooms.setdefault(room, _Room())

    def _set(self, entry: _Entry, **changes: Any) -> None:
        entry.bag = dataclasses.replace(entry.bag, **changes)

    async def create(self, bag: Bag, body: bytes) -> Answer:
        state = self._room(bag.room)
        if bag.id in state.bags:
            return Answer(Outcome.EXISTS)
        state.bags[bag.id] = _Entry(bag)
        current = state.bags.get(state.current)
        if current is None or current.bag.state not in (BagState.OPEN, BagState.DRAWING):
            state.current = bag.id
        self.host.publish_now(bag.room, body)
        return Answer(Outcome.OK)

    async def open(
        self,
        room: str,
        bag_id: str,
        now: float,
        deadline: float,
        seed: str,
        seed_hash: str,
        body: bytes,
    ) -> Answer:
        state = self._room(room)
        entry = state.bags.get(bag_id)
        if entry is None:
            return Answer(Outcome.MISSING)
        if entry.bag.state is not BagState.CREATED:
            return Answer(Outcome.STATE, entry.bag.state)
        current = state.bags.get(state.current)
        if current is not None and current.bag.state in (BagState.OPEN, BagState.DRAWING):
            return Answer(Outcome.BUSY)
        self._set(
            entry,
            state=BagState.OPEN,
            opened_at=now,
            deadline=deadline,
            seed=seed,
            seed_hash=seed_hash,
        )
        state.current = bag_id
        self._due[(room, bag_id)] = deadline
        self.host.publish_now(room, body)
        return Answer(Outcome.OK)

    async def join(
        self, room: str, bag_id: str, user: str, name: str, now: float, day: str, daily_cap: int
    ) -> Answer:
        state = self._room(room)
        entry = state.bags.get(bag_id)
        if entry is None:
            return Answer(Outcome.MISSING)
        bag = entry.bag
        if bag.state is not BagState.OPEN:
            return Answer(Outcome.STATE, bag.state)
        if bag.deadline is not None and now >= bag.deadline:
            return Answer(Outcome.ENDED)
        if user in entry.users:
            return Answer(Outcome.OK, count=len(entry.users))
        if state.wins.get(day, {}).get(user, 0) >= daily_cap:
            return Answer(Outcome.LIMIT)
        entry.users[user] = name
        self._set(entry, count=len(entry.users))
        return Answer(Outcome.OK, count=len(entry.users), new=True)

    async def claim(
        self, room: str, bag_id: str, now: float, token: str, lease_s: float, force: bool
    ) -> Claim:
        state = self._room(room)
        entry = state.bags.get(bag_id)
        if entry is None:
            return Claim(Outcome.MISSING)
        bag = entry.bag
        if bag.state is BagState.OPEN:
            if not force and bag.deadline is not None and now < bag.deadline:
                return Claim(Outcome.EARLY, deadline=bag.deadline)
        elif bag.state is BagState.DRAWING:
            if entry.lease > now:
                return Claim(Outcome.BUSY, state=bag.state)
        else:
            return Claim(Outcome.STATE, state=bag.state)
        self._set(entry, state=BagState.DRAWING)
        entry.token = token
        entry.lease = now + lease_s
        return Claim(Outcome.CLAIMED, entry.bag, dict(entry.users))

    async def finish(self, room: str, bag_id: str, token: str, now: float, draw: Draw) -> Answer:
        state = self._room(room)
        entry = state.bags.get(bag_id)
        if entry is None or entry.bag.state is not BagState.DRAWING or entry.token != token:
            return Answer(Outcome.LOST)
        winners = draw.winners
        wins = state.wins.get(draw.day)
        if wins is None:
            wins = state.wins[draw.day] = {}
            # a room keeps the win counts of its last ``WINS_DAYS_KEPT`` days with a draw (days
            # are ``YYYY-MM-DD``: in order as text), as Redis expires each day's: a daily cap
            # looks at one day, and the days before it were kept for good
            for old in sorted(state.wins)[:-WINS_DAYS_KEPT]:
                del state.wins[old]
        capped = [user for user in winners if wins.get(user, 0) >= draw.daily_cap]
        if capped:
            return Answer(Outcome.CAPPED, users=capped)
        for user in winners:
            wins[user] = wins.get(user, 0) + 1
        self._set(entry, state=BagState.DRAWN, drawn_at=now, result=draw.result)
        self._due.pop((room, bag_id), None)
        self.host.publish_now(room, draw.body)
        self.host.emit_now(room, "bag.drawn", {"bag": bag_id, **draw.result})
        for user in winners:
            await self.host.notify(room, user, draw.notice)
        return Answer(Outcome.OK)

    async def revoke(self, room: str, bag_id: str, now: float, body: bytes) -> Answer:
        state = self._room(room)
        entry = state.bags.get(bag_id)
        if entry is None:
            return Answer(Outcome.MISSING)
        bag = entry.bag
        if bag.state not in (BagState.CREATED, BagState.OPEN):
            return Answer(Outcome.STATE, bag.state)
        if bag.state is BagState.OPEN and bag.deadline is not None and now >= bag.deadline:
            return Answer(Outcome.DUE)
        self._set(entry, state=BagState.REVOKED, revoked_at=now)
        self._due.pop((room, bag_id), None)
        self.host.publish_now(room, body)
        return Answer(Outcome.OK)

    async def get(self, room: str, bag_id: str) -> Bag | None:
        entry = self._room(room).bags.get(bag_id)
        return entry.bag if entry is not None else None

    async def current(self, room: str) -> Bag | None:
        state = self._room(room)
        entry = state.bags.get(state.current)
        if entry is None or entry.bag.state is BagState.REVOKED:
            return None
        return entry.bag

    async def current_many(self, rooms: Sequence[str]) -> list[Bag | None]:
        return [await self.current(room) for room in rooms]

    async def recent(self, room: str, limit: int) -> list[Bag]:
        entries = list(self._room(room).bags.values())
        entries.sort(key=lambda e: e.bag.created_at, reverse=True)
        return [e.bag for e in entries[:limit]]

    async def participants(self, room: str, bag_id: str) -> dict[str, str]:
        entry = self._room(room).bags.get(bag_id)
        return dict(entry.users) if entry is not None else {}

    async def is_participant(self, room: str, bag_id: str, user: str) -> bool:
        entry = self._room(room).bags.get(bag_id)
        return entry is not None and user in entry.users

    async def wins(self, room: str, day: str, users: list[str]) -> dict[str, int]:
        wins = self._room(room).wins.get(day, {})
        return {user: wins[user] for user in users if user in wins}

    async def due(self, until: float) -> list[tuple[str, str, float]]:
        return [(room, bag, at) for (room, bag), at in self._due.items() if at <= until]

    async def undue(self, room: str, bag_id: str) -> None:
        self._due.pop((room, bag_id), None)

    async def seen(
        self,
        room: str,
        node: str,
        users: set[str],
        gone: set[str],
        reset: bool,
        ttl_s: float,
        now: float,
    ) -> None:
        nodes = self._room(room).nodes
        _, held = nodes.get(node, (0.0, set()))
        held = set(users) if reset else (held - gone) | users
        nodes[node] = (now + ttl_s, held)

    async def present(self, room: str, now: float) -> set[str]:
        out: set[str] = set()
        for expiry, users in self._room(room).nodes.values():
            if expiry > now:
                out |= users
        return out
