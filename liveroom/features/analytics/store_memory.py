"""MemoryAnalytics: the host's analytics in process memory, for the memory engine (see
``store.py`` for the contract). A room is forgotten once its keep time has passed."""

from __future__ import annotations

from collections.abc import Callable

from liveroom.features.analytics.store import AnalyticsStore, RoomData
from liveroom.features.analytics.tally import Batch

#: how often a write looks for rooms past their keep time (a read checks its own room)
SWEEP_S = 60.0


class MemoryAnalytics:
    """Satisfies ``AnalyticsStore``. Each method finishes without an ``await`` in between, so
    a write is one step, as the Redis script is."""

    def __init__(self) -> None:
        self.rooms: dict[str, RoomData] = {}
        self.expires: dict[str, float] = {}
        self.hosts: dict[str, dict[str, str]] = {}  # host -> user -> room first seen in
        self.open: dict[str, dict[tuple[str, str], float]] = {}  # room -> (node, user) -> start
        self.marks: dict[str, set[tuple[str, str]]] = {}  # room -> (name, user) counted
        self.beats: dict[str, float] = {}  # node -> its last beat
        self._swept = 0.0  # when expired rooms were last looked for

    def _room(self, room: str, now: float, keep_s: float) -> RoomData:
        self._expire(now)
        if self.expires.get(room, now + 1) <= now:
            self._drop(room)  # past its keep time: a new report starts
        data = self.rooms.get(room)
        if data is None:
            data = self.rooms[room] = RoomData(first=now)
            self.open[room] = {}
            self.marks[room] = set()
        data.last = now
        self.expires[room] = now + keep_s
        return data

    def _expire(self, now: float) -> None:
        if self._swept <= now < self._swept + SWEEP_S:
            return
        self._swept = now
        for room in [r for r, at in self.expires.items() if at <= now]:
            self._drop(room)

    def _drop(self, room: str) -> None:
        del self.rooms[room], self.expires[room], self.open[room], self.marks[room]

    async def returning(self, host: str, room: str, users: list[str], keep_s: float) -> list[bool]:
        seen = self.hosts.setdefault(host, {})
        return [seen.setdefault(user, room) != room for user in users]

    async def write_many(
        self, batches: list[Batch], node: str, keep_s: float
    ) -> list[Exception | None]:
        for batch in batches:
            await self.write(batch, node, {}, keep_s)
        return [None] * len(batches)

    async def write(
        self, batch: Batch, node: str, profiles: dict[str, tuple[float, bytes]], keep_s: float
    ) -> None:
        data = self._room(batch.room, batch.now, keep_s)
        if batch.host:
            data.host = batch.host
        for user, (at, profile) in profiles.items():
            known = data.users.get(user)
            if known is None or at < known[0]:
                data.users[user] = (at, profile)
        for user, start, end in batch.closed:
            data.intervals.setdefault(user, []).append((start, end))
        opened = self.open[batch.room]
        for user in batch.closes:
            opened.pop((node, user), None)
        for user, start in batch.opens.items():
            opened[(node, user)] = start
        data.open = [(n, user, start) for (n, user), start in opened.items()]
        data.nodes[node] = batch.now
        counts = data.counts
        for name, n in batch.counts.items():
            counts[name] = counts.get(name, 0) + n
        marked = self.marks[batch.room]
        for name, user in batch.marks:
            if (name, user) not in marked:
                marked.add((name, user))
                counts["n:" + name] = counts.get("n:" + name, 0) + 1
        for order, pay in batch.paid.items():
            if ("order", order) in marked:
                continue
            marked.add(("order", order))
            for name, n in (
                (f"orders:{pay.sku}", 1),
                (f"units:{pay.sku}", pay.units),
                (f"gmv:{pay.sku}", pay.cents),
                (f"h:{pay.hour}:gmv", pay.cents),
            ):
                counts[name] = counts.get(name, 0) + n
            if (f"paid:{pay.sku}", pay.user) not in marked:
                marked.add((f"paid:{pay.sku}", pay.user))
                counts[f"n:paid:{pay.sku}"] = counts.get(f"n:paid:{pay.sku}", 0) + 1
        data.boards.update(batch.boards)

    async def beat(self, node: str, now: float, keep_s: float) -> None:
        self.beats[node] = now
        for gone in [n for n, at in self.beats.items() if at < now - keep_s]:
            del self.beats[gone]

    async def add_spend(self, room: str, hour: int, cents: int, now: float, keep_s: float) -> None:
        counts = self._room(room, now, keep_s).counts
        for name in (f"h:{hour}:spend", "spend"):
            counts[name] = counts.get(name, 0) + cents

    async def read(self, room: str, now: float) -> RoomData | None:
        if self.expires.get(room, now + 1) <= now:
            return None  # past its keep time; the next sweep deletes it
        data = self.rooms.get(room)
        if data is None:
            return None
        # a copy: the report is built in a worker thread while writes go on
        return RoomData(
            first=data.first,
            last=data.last,
            host=data.host,
            users=dict(data.users),
            intervals={user: list(iv) for user, iv in data.intervals.items()},
            open=list(data.open),
            nodes=dict(data.nodes),
            beats={n: self.beats[n] for n in data.nodes if n in self.beats},
            counts=dict(data.counts),
            boards=dict(data.boards),
        )


#: the static conformance check (mypy): a ``MemoryAnalytics`` is an ``AnalyticsStore``
_satisfies: Callable[[], AnalyticsStore] = MemoryAnalytics
