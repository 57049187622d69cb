"""Places asked together for one deal go to Redis as one ``group_join`` call (the engine's
``Batcher``), and each is taken as if it had come alone, in arrival order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from liveroom.engine.base import Engine
from liveroom.features.groupbuy import deal_store
from liveroom.features.groupbuy.store import Answer, DealSpec, GroupStatus, Mode, audit
from liveroom.features.groupbuy.store_redis import RedisDealStore

pytestmark = pytest.mark.parametrize("engine_kind", ["redis", "cluster"], indirect=True)

ROOM = "r1"


def _counted(store: RedisDealStore) -> list[int]:
    """Record how many places each ``group_join`` call carried (the store's own script runner,
    wrapped: Redis itself is real)."""
    sizes: list[int] = []
    run = store._run

    async def counting(name: str, keys: list[str], args: list[Any]) -> Any:
        if name == "group_join":
            sizes.append((len(args) - 1) // 7)
        return await run(name, keys, args)

    store._run = counting  # type: ignore[method-assign]
    return sizes


async def _deal(store: RedisDealStore, size: int, stock: int) -> None:
    spec = DealSpec("d1", "A1", "Tea", size=size, price=100, stock=stock, limit=1)
    assert (await store.create(ROOM, spec)).code is Answer.OK
    assert (await store.open(ROOM, "d1")).code is Answer.OK


async def test_places_asked_together_share_one_call(engine: Engine) -> None:
    """Forty places asked at once take fewer calls than places; every one gets its own answer
    and the ledger adds up."""
    store = deal_store(engine)
    assert isinstance(store, RedisDealStore)
    await _deal(store, size=4, stock=30)
    sizes = _counted(store)
    answers = await asyncio.gather(
        *(store.join(ROOM, "d1", Mode.START, f"u{i}", f"U{i}", 1, "q") for i in range(40))
    )
    assert sum(sizes) == 40 and len(sizes) < 40
    taken, refused = answers[:30], answers[30:]
    assert all(a.code is Answer.OK and a.fresh and a.group for a in taken)
    assert [a.code for a in refused] == [Answer.SOLD_OUT] * 10
    assert len({a.group.id for a in taken if a.group}) == 30
    ledger = await store.ledger(ROOM, "d1")
    assert ledger is not None and audit(ledger)["ok"]


async def test_a_batch_takes_its_places_in_arrival_order(engine: Engine) -> None:
    """In one call, a start, then matches fill that group; a later match finds it full and
    starts nothing; a repeated request id gets the first answer again."""
    store = deal_store(engine)
    assert isinstance(store, RedisDealStore)
    await _deal(store, size=3, stock=9)
    sizes = _counted(store)
    first, second, third, late, again = await asyncio.gather(
        store.join(ROOM, "d1", Mode.START, "a", "A", 1, "q"),
        store.join(ROOM, "d1", Mode.MATCH, "b", "B", 1, "q"),
        store.join(ROOM, "d1", Mode.MATCH, "c", "C", 1, "q"),
        store.join(ROOM, "d1", Mode.MATCH, "d", "D", 1, "q"),
        store.join(ROOM, "d1", Mode.MATCH, "b", "B", 1, "q"),
    )
    assert sizes == [5]
    assert first.code is Answer.OK and first.group is not None
    assert second.code is Answer.OK and not second.formed
    assert third.code is Answer.OK and third.formed and third.group is not None
    assert third.group.id == first.group.id and third.group.status is GroupStatus.FORMED
    assert late.code is Answer.NO_OPEN_GROUP
    assert again.code is Answer.OK and not again.fresh
    assert again.group is not None and again.group.id == first.group.id
