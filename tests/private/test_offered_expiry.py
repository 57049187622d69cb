"""The memory store forgets a room's offered orders ``OFFERED_TTL_S`` after its last offer, as
Redis expires the set: a process that runs for weeks does not keep every paid order."""

from __future__ import annotations

from typing import Any

from liveroom.features.private.store import OFFERED_TTL_S
from liveroom.features.private.store_memory import OFFERED_SWEEP_S, MemoryPrivateStore
from tests.clocks import SteppedClock


async def _no_info(room: str) -> dict[str, Any] | None:
    return None


def _store() -> tuple[MemoryPrivateStore, SteppedClock]:
    clock = SteppedClock()
    return MemoryPrivateStore(clock, _no_info, lambda room, kind, data: "0-1"), clock


async def test_an_offer_is_remembered_while_the_room_offers_and_forgotten_after() -> None:
    store, clock = _store()
    assert await store.offer_once("r1", "sale/o1")
    clock.now += OFFERED_TTL_S - 1
    assert await store.offer_once("r1", "sale/o2")  # a later offer keeps the set
    clock.now += OFFERED_TTL_S - 1  # o1 is older than the lifetime, but the set is not
    assert not await store.offer_once("r1", "sale/o1")
    clock.now += OFFERED_TTL_S
    assert await store.offer_once("r1", "sale/o1")  # the set expired: a fresh one


async def test_rooms_that_stopped_offering_are_dropped() -> None:
    store, clock = _store()
    for n in range(100):
        assert await store.offer_once(f"quiet{n}", "sale/o1")
    clock.now += OFFERED_TTL_S + OFFERED_SWEEP_S
    assert await store.offer_once("busy", "sale/o1")
    assert set(store._offered) == {"busy"}
