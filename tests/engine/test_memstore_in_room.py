"""The memory sale and deal stores list one room's sales or deals at the cost of that room
alone, as Redis does from the room's set: a snapshot of a room does not scan every room."""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine
from types import FrameType
from typing import Any

import pytest

from liveroom.engine.coupons import MemoryCoupons
from liveroom.engine.outbox import MemoryOutbox
from liveroom.features.flashsale.store import SaleSpec
from liveroom.features.flashsale.store_memory import MemorySaleStore
from liveroom.features.groupbuy.store import DealSpec
from liveroom.features.groupbuy.store_memory import MemoryDealStore
from tests.clocks import SteppedClock

Store = MemorySaleStore | MemoryDealStore


def sale_store(clock: SteppedClock) -> MemorySaleStore:
    outbox = MemoryOutbox(clock)
    return MemorySaleStore(clock, outbox.append, MemoryCoupons(outbox.append))


def deal_store(clock: SteppedClock) -> MemoryDealStore:
    outbox = MemoryOutbox(clock)
    return MemoryDealStore(clock, outbox.append, MemoryCoupons(outbox.append))


async def create(store: Store, room: str, item: str) -> None:
    if isinstance(store, MemorySaleStore):
        await store.create(
            room, SaleSpec(id=item, sku="S", title="Tea", price=1990, stock=10, limit=2)
        )
    else:
        await store.create(
            room, DealSpec(id=item, sku="S", title="Tea", size=3, price=990, stock=30)
        )


def steps(call: Callable[[], Coroutine[Any, Any, list[Any]]]) -> tuple[list[str], int]:
    """The ids ``call`` returns and the bytecode instructions it ran (its frames and those it
    called): the work done, counted without a clock. ``call`` must not suspend."""
    count = 0

    def local(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal count
        if event == "opcode":
            count += 1
        return local

    def enter(frame: FrameType, event: str, arg: object) -> Any:
        frame.f_trace_opcodes = True
        return local

    coro = call()
    previous = sys.gettrace()
    sys.settrace(enter)
    try:
        coro.send(None)
    except StopIteration as done:
        found = done.value
    else:
        coro.close()
        raise AssertionError("the call suspended")
    finally:
        sys.settrace(previous)
    return [item.id for item in found], count


@pytest.mark.parametrize("make", [sale_store, deal_store], ids=["sales", "deals"])
async def test_a_rooms_listing_costs_the_same_however_many_other_rooms(
    make: Callable[[SteppedClock], Store],
) -> None:
    """A room's sales (deals) come in creation order, then by id, and listing them runs the
    same instructions with 2,000 other rooms in the process as with none."""
    clock = SteppedClock(1_700_000_000.0)
    store = make(clock)
    for item, at in (("z", 2.0), ("b", 1.0), ("a", 1.0), ("c", 3.0)):
        clock.now = 1_700_000_000.0 + at
        await create(store, "r1", item)
    alone, cost = steps(lambda: store.in_room("r1"))
    assert alone == ["a", "b", "z", "c"]
    for n in range(2000):
        await create(store, f"r1-{n}", "a")
        await create(store, f"other-{n}", f"x{n}")
    assert steps(lambda: store.in_room("r1")) == (alone, cost)
    assert steps(lambda: store.in_room("r1-7"))[0] == ["a"]
    assert steps(lambda: store.in_room("nowhere"))[0] == []
