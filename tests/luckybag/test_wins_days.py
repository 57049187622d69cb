"""The memory store keeps a room's win counts for its last three days with a draw, as Redis
expires each day's (``WINS_TTL_S``): a room that draws every day does not keep every day."""

from __future__ import annotations

from liveroom.engine.memory import MemoryEngine
from liveroom.features.luckybag.store import Bag, BagState, Draw, Outcome
from liveroom.features.luckybag.store_memory import WINS_DAYS_KEPT, MemoryBagStore
from liveroom.features.luckybag.stores import bag_store
from liveroom.protocol import room_event_body
from tests.conftest import make_settings

T0 = 1_700_000_000.0
RULES = {"prize": "lipstick", "value_fen": 9900, "winners": 1, "duration_s": 10}
RULES |= {"join": "tap", "keyword": None, "must_stay": False}


async def test_a_room_keeps_the_win_counts_of_its_last_three_days() -> None:
    engine = MemoryEngine(make_settings())
    store = bag_store(engine)
    assert isinstance(store, MemoryBagStore)
    days = [f"2026-12-{d:02d}" for d in range(1, 7)]
    for n, day in enumerate(days):
        bag = f"b{n}"
        body = room_event_body("bag", id=bag)
        assert (await store.create(Bag(bag, "r1", BagState.CREATED, RULES, T0), body)).outcome is (
            Outcome.OK
        )
        await store.open("r1", bag, T0, T0 + 10, "seed", "hash", body)
        await store.claim("r1", bag, T0 + 10, "t", 5, False)
        win = {"winners": [{"id": "alice", "name": "Alice"}], "ineligible": {}}
        done = await store.finish("r1", bag, "t", T0, Draw(win, day, 1, b"{}", b"{}"))
        assert done.outcome is Outcome.OK
        assert await store.wins("r1", day, ["alice"]) == {"alice": 1}
    kept = days[-WINS_DAYS_KEPT:]
    assert sorted(store._room("r1").wins) == kept
    for day in days:
        assert await store.wins("r1", day, ["alice"]) == ({"alice": 1} if day in kept else {})
