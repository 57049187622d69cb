"""AnalyticsStore conformance: the memory and the Redis store keep the same room data from the
same batches, on one Redis and on a Redis Cluster."""

from __future__ import annotations

from collections import Counter

import pytest

from liveroom.engine.base import Engine
from liveroom.features.analytics import analytics_store
from liveroom.features.analytics.store_redis import ROOMS_PER_WRITE
from liveroom.features.analytics.tally import Batch, Payment
from tests.conftest import EVERY_ENGINE

pytestmark = pytest.mark.parametrize("engine_kind", EVERY_ENGINE, indirect=True)

KEEP = 3600.0


def batch(now: float, **parts: object) -> Batch:
    b = Batch("r1", now)
    for name, value in parts.items():
        setattr(b, name, value)
    return b


async def test_nothing_written_reads_none(engine: Engine) -> None:
    """A room with no write has no data."""
    assert await analytics_store(engine).read("r0", 100.0) is None


async def test_two_nodes_batches_merge(engine: Engine) -> None:
    """Intervals append, opens and closes are per node, counts add, marks count once, the
    earliest join's profile wins, boards are kept by version, payments count once per order."""
    store = analytics_store(engine)
    pay = Payment("u1", "tea", 2, 400, 3600)
    await store.write(
        batch(
            10.0,
            closed=[("u1", 1.0, 5.0)],
            opens={"u2": 6.0},
            counts=Counter({"comments": 2, "m:0:comments": 2}),
            marks={("interacted", "u1")},
            boards={2: (8.0, ["cup", "tea"])},
            paid={"s1/o1": pay},
        ),
        "A",
        {"u1": (1.0, b'["feed"]'), "u2": (6.0, b'["ad"]')},
        KEEP,
    )
    await store.write(
        batch(
            11.0,
            closed=[("u1", 4.0, 9.0)],
            opens={"u1": 9.5},
            counts=Counter({"comments": 1}),
            marks={("interacted", "u1"), ("interacted", "u2")},
            boards={1: (2.0, ["tea"])},
            paid={"s1/o1": pay},
        ),
        "B",
        {"u1": (0.5, b'["share"]'), "u2": (7.0, b'["group"]')},
        KEEP,
    )
    await store.write(batch(12.0, closes={"u2"}), "A", {}, KEEP)
    data = await store.read("r1", 12.0)
    assert data is not None
    assert data.users == {"u1": (0.5, b'["share"]'), "u2": (6.0, b'["ad"]')}
    assert sorted(data.intervals["u1"]) == [(1.0, 5.0), (4.0, 9.0)]
    assert data.open == [("B", "u1", 9.5)]
    assert data.nodes == {"A": 12.0, "B": 11.0}
    assert data.counts["comments"] == 3
    assert data.counts["n:interacted"] == 2
    assert (data.counts["gmv:tea"], data.counts["orders:tea"], data.counts["n:paid:tea"]) == (
        400,
        1,
        1,
    )
    assert data.counts["h:3600:gmv"] == 400
    assert data.boards == {1: (2.0, ["tea"]), 2: (8.0, ["cup", "tea"])}
    assert (data.first, data.last) == (10.0, 12.0)


async def test_spend_adds_per_hour(engine: Engine) -> None:
    """Ad spend adds up per hour and in total, and makes the room known."""
    store = analytics_store(engine)
    await store.add_spend("r2", 0, 500, 10.0, KEEP)
    await store.add_spend("r2", 0, 250, 11.0, KEEP)
    await store.add_spend("r2", 3600, 100, 12.0, KEEP)
    data = await store.read("r2", 12.0)
    assert data is not None
    assert (data.counts["h:0:spend"], data.counts["h:3600:spend"], data.counts["spend"]) == (
        750,
        100,
        850,
    )


async def test_returning_is_per_host(engine: Engine) -> None:
    """A user first seen in another room of the host is returning; in this one, new."""
    store = analytics_store(engine)
    assert await store.returning("h1", "early", ["u1"], KEEP) == [False]
    assert await store.returning("h1", "late", ["u1", "u2"], KEEP) == [True, False]
    assert await store.returning("h1", "late", ["u1", "u2"], KEEP) == [True, False]
    assert await store.returning("h2", "late", ["u1"], KEEP) == [False]


async def test_many_batches_written_at_once_land_as_one_by_one(engine: Engine) -> None:
    """``write_many`` (the pulse's write of every room with no newcomer) keeps what ``write``
    keeps, per room, and says per batch that it was written: over more rooms than one call of
    the standalone Redis store takes (``ROOMS_PER_WRITE``), the last call a partial one."""
    store = analytics_store(engine)
    rooms = [f"many{n}" for n in range(2 * ROOMS_PER_WRITE + 7)]
    batches = []
    for n, room in enumerate(rooms):
        b = Batch(room, 20.0)
        b.counts = Counter({"comments": n + 1})
        b.marks = {("interacted", f"u{n}")}
        b.opens = {f"u{n}": 19.0}
        batches.append(b)
    assert await store.write_many(batches, "A", KEEP) == [None] * len(rooms)
    again = Batch(rooms[3], 21.0)
    again.counts = Counter({"comments": 10})
    again.closes = {"u3"}
    assert await store.write_many([again], "A", KEEP) == [None]
    for n, room in enumerate(rooms):
        data = await store.read(room, 21.0)
        assert data is not None, room
        assert data.counts["comments"] == n + 1 + (10 if n == 3 else 0)
        assert data.counts["n:interacted"] == 1
        assert data.open == ([] if n == 3 else [("A", f"u{n}", 19.0)])
    assert await store.write_many([], "A", KEEP) == []


async def test_beats_are_read_with_the_rooms_of_their_nodes(engine: Engine) -> None:
    """A node's beat is one write for all its rooms: a room's read carries the last beat of
    each node that wrote it (and of no other node), and beats older than the keep time go."""
    store = analytics_store(engine)
    await store.write(batch(10.0, opens={"u1": 9.0}), "A", {}, KEEP)
    await store.write(batch(11.0, opens={"u2": 10.0}), "B", {}, KEEP)
    await store.beat("A", 20.0, KEEP)
    await store.beat("A", 25.5, KEEP)
    await store.beat("C", 26.0, KEEP)  # a node of other rooms only
    data = await store.read("r1", 30.0)
    assert data is not None
    assert data.beats == {"A": 25.5}
    await store.write(batch(KEEP / 2), "B", {}, KEEP)  # the room kept on by B
    await store.beat("B", 30.0 + KEEP, KEEP)  # A's last beat is past its keep time by now
    data = await store.read("r1", 31.0 + KEEP)
    assert data is not None
    assert data.nodes == {"A": 10.0, "B": KEEP / 2}
    assert data.beats == {"B": 30.0 + KEEP}
