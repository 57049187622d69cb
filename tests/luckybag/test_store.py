"""BagStore conformance: the same tests against MemoryEngine, a real Redis and a real Redis
Cluster."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from liveroom.engine.base import Engine
from liveroom.features.luckybag.store import Bag, BagState, BagStore, Draw, Outcome
from liveroom.features.luckybag.stores import bag_store
from liveroom.protocol import room_event_body
from tests.conftest import EVERY_ENGINE
from tests.luckybag.watch import Room, subscribe
from tests.timeouts import eventually

pytestmark = pytest.mark.parametrize("engine_kind", EVERY_ENGINE, indirect=True)

T0 = 1_700_000_000.0
RULES = {"prize": "lipstick", "value_fen": 9900, "winners": 2, "duration_s": 10}
RULES |= {"join": "tap", "keyword": None, "must_stay": False}
DAY = "2023-11-15"


def body(kind: str, **fields: Any) -> bytes:
    return room_event_body(kind, **fields)


async def opened(store: BagStore, bag_id: str = "b1", room: str = "r1") -> None:
    bag = Bag(bag_id, room, BagState.CREATED, RULES, T0)
    assert (await store.create(bag, body("bag", id=bag_id))).outcome is Outcome.OK
    answer = await store.open(room, bag_id, T0, T0 + 10, "seed", "hash", body("bag", id=bag_id))
    assert answer.outcome is Outcome.OK


async def join(store: BagStore, user: str, at: float = T0 + 1, cap: int = 1) -> Any:
    return await store.join("r1", "b1", user, user.title(), at, DAY, cap)


async def test_state_changes_publish_their_events_in_order(engine: Engine) -> None:
    """Create and open publish their events through the room's offsets."""
    seen = Room()
    await subscribe(engine, "r1", seen)
    await opened(bag_store(engine))
    await eventually(lambda: len(seen.events) == 2)
    assert [e["offset"] for e in seen.events] == [1, 2]
    assert (await engine.head("r1")).head == 2


async def test_open_refuses_a_second_open_bag_in_the_room(engine: Engine) -> None:
    """One bag at a time: opening another while one is open answers busy."""
    store = bag_store(engine)
    await opened(store)
    await store.create(Bag("b2", "r1", BagState.CREATED, RULES, T0 + 1), body("bag"))
    answer = await store.open("r1", "b2", T0 + 1, T0 + 11, "s", "h", body("bag"))
    assert answer.outcome is Outcome.BUSY
    assert (await store.current("r1")).id == "b1"  # type: ignore[union-attr]


async def test_create_refuses_a_taken_id(engine: Engine) -> None:
    """Bag ids are unique within a room."""
    store = bag_store(engine)
    await opened(store)
    again = Bag("b1", "r1", BagState.CREATED, RULES, T0)
    assert (await store.create(again, body("bag"))).outcome is Outcome.EXISTS


async def test_join_is_idempotent(engine: Engine) -> None:
    """A second join by the same user counts nothing."""
    store = bag_store(engine)
    await opened(store)
    first = await join(store, "alice")
    second = await join(store, "alice")
    assert (first.new, first.count) == (True, 1)
    assert (second.new, second.count) == (False, 1)
    assert await store.participants("r1", "b1") == {"alice": "Alice"}
    assert (await store.get("r1", "b1")).count == 1  # type: ignore[union-attr]


async def test_join_refuses_after_the_deadline_and_before_opening(engine: Engine) -> None:
    """Joining ends at the deadline; a created bag cannot be joined yet."""
    store = bag_store(engine)
    await opened(store)
    assert (await join(store, "late", at=T0 + 10)).outcome is Outcome.ENDED
    await store.create(Bag("b2", "r1", BagState.CREATED, RULES, T0), body("bag"))
    early = await store.join("r1", "b2", "bob", "Bob", T0, DAY, 1)
    assert (early.outcome, early.state) == (Outcome.STATE, BagState.CREATED)
    missing = await store.join("r1", "nope", "bob", "Bob", T0, DAY, 1)
    assert missing.outcome is Outcome.MISSING


async def test_only_one_of_many_claimers_draws(engine: Engine) -> None:
    """Concurrent claims after the deadline: exactly one is claimed, the rest busy."""
    store = bag_store(engine)
    await opened(store)
    await join(store, "alice")
    claims = await asyncio.gather(
        *(store.claim("r1", "b1", T0 + 10, f"node{i}", 5, False) for i in range(8))
    )
    outcomes = sorted(c.outcome.value for c in claims)
    assert outcomes == ["busy"] * 7 + ["claimed"]
    won = next(c for c in claims if c.outcome is Outcome.CLAIMED)
    assert won.participants == {"alice": "Alice"}
    assert won.bag is not None and won.bag.seed == "seed"


async def test_claim_waits_for_the_deadline_unless_forced(engine: Engine) -> None:
    """Before the deadline a claim answers early with the deadline; force draws at once."""
    store = bag_store(engine)
    await opened(store)
    early = await store.claim("r1", "b1", T0 + 5, "a", 5, False)
    assert (early.outcome, early.deadline) == (Outcome.EARLY, T0 + 10)
    assert (await store.claim("r1", "b1", T0 + 5, "a", 5, True)).outcome is Outcome.CLAIMED


async def test_lapsed_lease_can_be_claimed_again_and_old_holder_loses(engine: Engine) -> None:
    """A node that died mid-draw is replaced after its lease; its late finish is refused."""
    store = bag_store(engine)
    await opened(store)
    await join(store, "alice")
    assert (await store.claim("r1", "b1", T0 + 10, "dead", 5, False)).outcome is Outcome.CLAIMED
    assert (await store.claim("r1", "b1", T0 + 12, "b", 5, False)).outcome is Outcome.BUSY
    assert (await store.claim("r1", "b1", T0 + 16, "b", 5, False)).outcome is Outcome.CLAIMED
    result = {"winners": [{"id": "alice", "name": "Alice"}], "ineligible": {}}
    args = (T0 + 16, Draw(result, DAY, 1, body("bag_drawn"), b'{"type":"bag_won"}'))
    assert (await store.finish("r1", "b1", "dead", *args)).outcome is Outcome.LOST
    assert (await store.finish("r1", "b1", "b", *args)).outcome is Outcome.OK
    assert (await store.finish("r1", "b1", "b", *args)).outcome is Outcome.LOST
    bag = await store.get("r1", "b1")
    assert bag is not None and bag.state is BagState.DRAWN and bag.result == result
    again = await store.claim("r1", "b1", T0 + 30, "c", 5, True)
    assert (again.outcome, again.state) == (Outcome.STATE, BagState.DRAWN)


async def test_finish_counts_wins_and_refuses_capped_winners(engine: Engine) -> None:
    """A winner already at the daily cap comes back as capped and nothing changes."""
    store = bag_store(engine)
    await opened(store)
    await store.claim("r1", "b1", T0 + 10, "t", 5, False)
    win = {"winners": [{"id": "alice", "name": "Alice"}], "ineligible": {}}
    done = await store.finish("r1", "b1", "t", T0, Draw(win, DAY, 1, b"{}", b"{}"))
    assert done.outcome is Outcome.OK
    assert await store.wins("r1", DAY, ["alice", "bob"]) == {"alice": 1}
    await store.create(Bag("b2", "r1", BagState.CREATED, RULES, T0), body("bag"))
    await store.open("r1", "b2", T0, T0 + 10, "s", "h", body("bag"))
    assert (await store.join("r1", "b2", "alice", "A", T0, DAY, 1)).outcome is Outcome.LIMIT
    assert (await store.join("r1", "b2", "alice", "A", T0, DAY, 2)).new is True
    await store.claim("r1", "b2", T0 + 10, "t", 5, False)
    capped = await store.finish("r1", "b2", "t", T0, Draw(win, DAY, 1, b"{}", b"{}"))
    assert (capped.outcome, capped.users) == (Outcome.CAPPED, ["alice"])
    assert (await store.get("r1", "b2")).state is BagState.DRAWING  # type: ignore[union-attr]


async def test_finish_tells_winners_privately(engine: Engine) -> None:
    """The private notice goes to each winner through the room's notify path."""
    store = bag_store(engine)
    seen = Room()
    await subscribe(engine, "r1", seen)
    await opened(store)
    await store.claim("r1", "b1", T0 + 10, "t", 5, False)
    result = {"winners": [{"id": "u1", "name": "U"}, {"id": "u2", "name": "V"}], "ineligible": {}}
    notice = b'{"type":"bag_won","bag":"b1"}'
    draw = Draw(result, DAY, 1, body("bag_drawn"), notice)
    await store.finish("r1", "b1", "t", T0 + 10, draw)
    await eventually(lambda: len(seen.raw) == 5)
    assert sorted(p for p in seen.raw if p.startswith(b"@")) == [
        b"@u1\n" + notice,
        b"@u2\n" + notice,
    ]


async def test_revoke_only_before_the_draw(engine: Engine) -> None:
    """Revoking works while open; not once the deadline passed, nor after the draw."""
    store = bag_store(engine)
    await opened(store)
    assert (await store.revoke("r1", "b1", T0 + 10, body("bag"))).outcome is Outcome.DUE
    assert (await store.revoke("r1", "b1", T0 + 1, body("bag"))).outcome is Outcome.OK
    assert await store.current("r1") is None
    assert (await store.claim("r1", "b1", T0 + 20, "t", 5, True)).outcome is Outcome.STATE
    await opened(store, "b2")
    await store.claim("r1", "b2", T0 + 10, "t", 5, False)
    refused = await store.revoke("r1", "b2", T0 + 1, body("bag"))
    assert (refused.outcome, refused.state) == (Outcome.STATE, BagState.DRAWING)


async def test_due_index_lists_open_bags_by_deadline(engine: Engine) -> None:
    """Open bags are in the deadline index until drawn or revoked."""
    store = bag_store(engine)
    await opened(store, "b1", "r1")
    await opened(store, "b2", "r2")
    assert sorted(await store.due(T0 + 10)) == [("r1", "b1", T0 + 10), ("r2", "b2", T0 + 10)]
    assert await store.due(T0 + 9) == []
    await store.revoke("r2", "b2", T0, body("bag"))
    assert await store.due(T0 + 10) == [("r1", "b1", T0 + 10)]
    await store.undue("r1", "b1")
    assert await store.due(T0 + 10) == []


async def test_presence_sums_nodes_and_lapses(engine: Engine) -> None:
    """A user is present while some node's report of them has not lapsed."""
    store = bag_store(engine)
    await store.seen("r1", "n1", {"alice", "bob"}, set(), True, 5, T0)
    await store.seen("r1", "n2", {"carol"}, set(), True, 5, T0 + 3)
    assert await store.present("r1", T0 + 4) == {"alice", "bob", "carol"}
    await store.seen("r1", "n1", set(), {"bob"}, False, 5, T0 + 4)
    assert await store.present("r1", T0 + 4) == {"alice", "carol"}
    assert await store.present("r1", T0 + 8.5) == {"alice"}  # n2 lapsed at T0 + 8
    assert await store.present("r1", T0 + 20) == set()


async def test_recent_lists_newest_first(engine: Engine) -> None:
    """The room's bags come newest first."""
    store = bag_store(engine)
    for i in range(3):
        await store.create(Bag(f"b{i}", "r1", BagState.CREATED, RULES, T0 + i), body("bag"))
    assert [b.id for b in await store.recent("r1", 2)] == ["b2", "b1"]


async def test_current_many_answers_as_current_does_for_each_room(engine: Engine) -> None:
    """One round for many rooms: no bag, an open bag with its count, a revoked one, a drawn
    one, in the order asked, the same as ``current`` room by room."""
    store = bag_store(engine)
    await opened(store, "b1", "r1")
    await join(store, "alice")
    await join(store, "bob")
    await opened(store, "b2", "r2")
    await store.revoke("r2", "b2", T0 + 1, body("bag"))
    await opened(store, "b3", "r3")
    await store.claim("r3", "b3", T0 + 20, "t", 5, True)
    rooms = ["r0", "r1", "r2", "r3", "r1"]
    many = await store.current_many(rooms)
    one = [await store.current(room) for room in rooms]
    assert many == one
    assert [b.id if b else None for b in many] == [None, "b1", None, "b3", "b1"]
    assert many[1] is not None and many[1].count == 2
    assert await store.current_many([]) == []
