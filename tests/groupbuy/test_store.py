"""The deal store conformance suite: written once, run against MemoryEngine, a real Redis and a
real Redis Cluster. Every store under test is ``audited``: after each call that may change
state, every deal of the room passes its audit."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any, cast

import pytest

from liveroom.engine.base import Engine
from liveroom.features.events import feed_source
from liveroom.features.groupbuy import deal_store
from liveroom.features.groupbuy.store import (
    Answer,
    DealSpec,
    DealStatus,
    DealStore,
    GroupStatus,
    Mode,
    OrderStatus,
    audit,
)
from tests.conftest import EVERY_ENGINE
from tests.timeouts import eventually

pytestmark = pytest.mark.parametrize("engine_kind", EVERY_ENGINE, indirect=True)

ROOM = "r1"
#: the store's reads: every other method may change state, and is followed by the audit
READS = frozenset({"get", "in_room", "group", "groups", "open_groups", "order", "ledger"})


class Audited:
    """A store whose every changing call is followed by the audit of each deal of ``ROOM``."""

    def __init__(self, store: DealStore) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)
        if name in READS:
            return method

        async def call(*args: Any, **kwargs: Any) -> Any:
            result = await method(*args, **kwargs)
            for deal in await self.store.in_room(ROOM):
                await checked(self.store, deal.id)
            return result

        return call


def audited(engine: Engine) -> DealStore:
    return cast(DealStore, Audited(deal_store(engine)))


def spec(deal: str = "d1", size: int = 3, stock: int = 30, limit: int = 1, **more: Any) -> DealSpec:
    fields: dict[str, Any] = {
        "id": deal,
        "sku": "SKU-" + deal,
        "title": "Tea " + deal,
        "size": size,
        "price": 990,
        "stock": stock,
        "limit": limit,
    }
    fields.update(more)
    return DealSpec(**fields)


async def open_deal(store: DealStore, deal: str = "d1", **more: Any) -> None:
    assert (await store.create(ROOM, spec(deal, **more))).code is Answer.OK
    assert (await store.open(ROOM, deal)).code is Answer.OK


async def checked(store: DealStore, deal: str = "d1") -> dict[str, Any]:
    ledger = await store.ledger(ROOM, deal)
    assert ledger is not None
    report = audit(ledger)
    assert report["ok"], report
    return report


async def events(engine: Engine, room: str = ROOM) -> list[dict[str, Any]]:
    """Every business event of the room so far (a lane opened at 0 reads from the start)."""
    source = feed_source(engine)
    await source.open_lane(room, "audit", 0.0)
    return [e.event() for e in (await source.read(room, "audit", "n1", 10_000)).entries]


async def test_create_then_read(engine: Engine) -> None:
    """A created deal reads back whole, starts CREATED; a second create of its id conflicts."""
    store = audited(engine)
    change = await store.create(ROOM, spec(stock=7, fill_s=30))
    assert change.code is Answer.OK and change.deal is not None
    deal = await store.get(ROOM, "d1")
    assert deal is not None and deal.status is DealStatus.CREATED
    assert (deal.sku, deal.size, deal.price, deal.stock, deal.total, deal.fill_s) == (
        "SKU-d1", 3, 990, 7, 7, 30.0
    )  # fmt: skip
    again = await store.create(ROOM, spec(stock=99))
    assert again.code is Answer.CONFLICT and again.deal is not None and again.deal.stock == 7
    assert [d.id for d in await store.in_room(ROOM)] == ["d1"]
    assert await store.in_room("elsewhere") == []


async def test_window_refusals(engine: Engine) -> None:
    """Before opening: not_started; a later start: not_started; after closing: ended."""
    store = audited(engine)
    await store.create(ROOM, spec())
    answer = await store.join(ROOM, "d1", Mode.START, "u1", "U1", 1, "q1")
    assert answer.code is Answer.NOT_STARTED and not answer.fresh
    await open_deal(store, "d2", start=time.time() + 60)
    assert (await store.join(ROOM, "d2", Mode.START, "u1", "U1", 1, "q1")).code is (
        Answer.NOT_STARTED
    )
    await open_deal(store, "d3")
    await store.close(ROOM, "d3")
    assert (await store.join(ROOM, "d3", Mode.MATCH, "u1", "U1", 1, "q1")).code is Answer.ENDED
    assert (await store.join(ROOM, "nope", Mode.START, "u1", "U1", 1, "q1")).code is (
        Answer.NOT_FOUND
    )
    await checked(store, "d3")


async def test_a_group_fills_and_every_place_becomes_an_order(engine: Engine) -> None:
    """Start, two joins: the third place forms the group; three reserved orders at the group
    price; stock taken at each join; one group.formed and three order.reserved events."""
    store = audited(engine)
    await open_deal(store, payment_s=60)
    first = await store.join(ROOM, "d1", Mode.START, "u1", "Ann", 1, "q1")
    assert first.code is Answer.OK and first.fresh and not first.formed and first.group
    gid = first.group.id
    assert first.stock == 29 and first.group.needs == 2
    report = await checked(store)
    assert (report["held"], report["groups"]["open"]) == (1, 1)
    second = await store.join(ROOM, "d1", Mode.JOIN, "u2", "Bob", 1, "q1", gid)
    assert second.code is Answer.OK and second.group and second.group.needs == 1
    await checked(store)
    third = await store.join(ROOM, "d1", Mode.JOIN, "u3", "Cy", 1, "q1", gid)
    assert third.code is Answer.OK and third.formed and third.group
    group = third.group
    assert group.status is GroupStatus.FORMED and group.needs == 0
    assert [m.name for m in group.members] == ["Ann", "Bob", "Cy"]
    report = await checked(store)
    assert (report["stock"], report["held"], report["reserved"]) == (27, 0, 3)
    assert report["groups"] == {"open": 0, "formed": 1, "failed": 0}
    for member in group.members:
        order = await store.order(ROOM, "d1", member.order)
        assert order is not None and order.status is OrderStatus.RESERVED
        assert (order.user, order.group, order.price, order.discount) == (
            member.user, gid, 990, 0
        )  # fmt: skip
        assert order.deadline > time.time() + 50
    feed = await events(engine)
    kinds = Counter(e["type"] for e in feed)
    assert kinds == {"order.reserved": 3, "group.formed": 1}
    formed = next(e["data"] for e in feed if e["type"] == "group.formed")
    assert formed["group"] == gid and formed["members"] == ["u1", "u2", "u3"]
    assert formed["orders"] == {m.user: m.order for m in group.members}
    reserved = [e["data"] for e in feed if e["type"] == "order.reserved"]
    assert {r["deal"] for r in reserved} == {"d1"} and {r["group"] for r in reserved} == {gid}


async def test_join_refusals(engine: Engine) -> None:
    """Unknown group, already in it, a formed group, the limit, and stock each get their code."""
    store = audited(engine)
    await open_deal(store, size=2, stock=3, limit=1)
    gid = (await store.join(ROOM, "d1", Mode.START, "u1", "A", 1, "q1")).group.id  # type: ignore[union-attr]
    assert (await store.join(ROOM, "d1", Mode.JOIN, "u2", "B", 1, "q1", "d1-g99")).code is (
        Answer.NO_GROUP
    )
    again = await store.join(ROOM, "d1", Mode.JOIN, "u1", "A", 1, "q2", gid)
    assert again.code is Answer.ALREADY_IN_GROUP
    # u1 holds one unit (its place): a second group is over its limit of 1
    assert (await store.join(ROOM, "d1", Mode.START, "u1", "A", 1, "q3")).code is (
        Answer.LIMIT_REACHED
    )
    assert (await store.join(ROOM, "d1", Mode.JOIN, "u2", "B", 1, "q2", gid)).formed
    assert (await store.join(ROOM, "d1", Mode.JOIN, "u3", "C", 1, "q1", gid)).code is (
        Answer.GROUP_FULL
    )
    assert (await store.join(ROOM, "d1", Mode.START, "u3", "C", 1, "q2")).code is Answer.OK
    assert (await store.join(ROOM, "d1", Mode.START, "u4", "D", 1, "q1")).code is Answer.SOLD_OUT
    assert (await store.join(ROOM, "d1", Mode.MATCH, "u3", "C", 1, "q3")).code is (
        Answer.NO_OPEN_GROUP
    )
    report = await checked(store)
    assert (report["stock"], report["held"], report["reserved"]) == (0, 1, 2)


async def test_match_takes_the_fullest_open_group_the_user_is_not_in(engine: Engine) -> None:
    """Fullest first, earliest deadline among equals, never a group the user is already in."""
    store = audited(engine)
    await open_deal(store, size=4, limit=3)
    g1 = (await store.join(ROOM, "d1", Mode.START, "a", "A", 1, "q")).group.id  # type: ignore[union-attr]
    g2 = (await store.join(ROOM, "d1", Mode.START, "b", "B", 1, "q")).group.id  # type: ignore[union-attr]
    await store.join(ROOM, "d1", Mode.JOIN, "c", "C", 1, "q", g2)
    assert [g.id for g in await store.open_groups(ROOM, "d1", 10)] == [g2, g1]
    matched = await store.join(ROOM, "d1", Mode.MATCH, "b", "B", 1, "m1")
    assert matched.code is Answer.OK and matched.group and matched.group.id == g1
    g3 = (await store.join(ROOM, "d1", Mode.START, "x", "X", 1, "q")).group.id  # type: ignore[union-attr]
    matched = await store.join(ROOM, "d1", Mode.MATCH, "y", "Y", 1, "m1")
    assert matched.group and matched.group.id == g1  # g1 and g2 hold two, g1 is older
    assert [g.id for g in await store.open_groups(ROOM, "d1", 10)] == [g1, g2, g3]
    await checked(store)


async def test_same_request_id_takes_one_place(engine: Engine) -> None:
    """Replays, even concurrent ones, answer the same group and never take a second place."""
    store = audited(engine)
    await open_deal(store, limit=5)
    first = await store.join(ROOM, "d1", Mode.START, "u1", "A", 1, "q1")
    again = await asyncio.gather(
        *(store.join(ROOM, "d1", Mode.START, "u1", "A", 1, "q1") for _ in range(5))
    )
    for answer in again:
        assert answer.code is Answer.OK and not answer.fresh
        assert answer.group and first.group and answer.group.id == first.group.id
    refused = await store.join(ROOM, "d1", Mode.JOIN, "u1", "A", 1, "q2", first.group.id)  # type: ignore[union-attr]
    assert refused.code is Answer.ALREADY_IN_GROUP
    replayed = await store.join(ROOM, "d1", Mode.START, "u1", "A", 1, "q2")
    assert replayed.code is Answer.ALREADY_IN_GROUP  # a refusal is replayed too
    report = await checked(store)
    assert report["held"] == 1 and report["groups"]["open"] == 1


async def test_concurrent_joins_never_overfill_a_group(engine: Engine) -> None:
    """Twenty viewers join one group of three at once: exactly two get in, and it forms once."""
    store = audited(engine)
    await open_deal(store, size=3, stock=100)
    gid = (await store.join(ROOM, "d1", Mode.START, "u0", "A", 1, "q")).group.id  # type: ignore[union-attr]
    answers = await asyncio.gather(
        *(store.join(ROOM, "d1", Mode.JOIN, f"u{i}", "V", 1, "q", gid) for i in range(1, 21))
    )
    codes = Counter(a.code for a in answers)
    assert codes == {Answer.OK: 2, Answer.GROUP_FULL: 18}
    assert sum(a.formed for a in answers) == 1
    report = await checked(store)
    assert report["reserved"] == 3 and report["groups"]["formed"] == 1


async def test_an_unfilled_group_fails_once_and_its_stock_comes_back(engine: Engine) -> None:
    """Past its fill time a group is not joinable; two sweeps at once fail it once, every
    place is released, stock and quota come back, and one group.failed is appended."""
    store = audited(engine)
    await open_deal(store, size=3, stock=10, fill_s=0.3)
    gid = (await store.join(ROOM, "d1", Mode.START, "u1", "A", 1, "q")).group.id  # type: ignore[union-attr]
    await store.join(ROOM, "d1", Mode.JOIN, "u2", "B", 1, "q", gid)
    assert (await checked(store))["held"] == 2

    async def past() -> bool:
        group = await store.group(ROOM, "d1", gid)
        return group is not None and group.deadline < time.time() - 0.05

    await eventually(past, timeout=5)
    late = await store.join(ROOM, "d1", Mode.JOIN, "u3", "C", 1, "q", gid)
    assert late.code is Answer.GROUP_NOT_OPEN
    sweeps = await asyncio.gather(store.sweep(), store.sweep(), store.sweep())
    failed = [g for swept in sweeps for item in swept for g in item.failed]
    assert [g.id for g in failed] == [gid]
    assert failed[0].status is GroupStatus.FAILED and failed[0].reason == "expired"
    report = await checked(store)
    assert (report["stock"], report["held"]) == (10, 0)
    assert report["groups"] == {"open": 0, "formed": 0, "failed": 1}
    assert (await store.sweep()) == []
    # the quota came back: u1 may start again
    assert (await store.join(ROOM, "d1", Mode.START, "u1", "A", 1, "q2")).code is Answer.OK
    feed = [e for e in await events(engine) if e["type"] == "group.failed"]
    assert len(feed) == 1
    assert feed[0]["data"] == {
        "group": gid, "deal": "d1", "sku": "SKU-d1", "members": ["u1", "u2"],
        "reason": "expired", "units": 2,
    }  # fmt: skip
    # a failed group never changes again
    assert (await store.join(ROOM, "d1", Mode.JOIN, "u4", "D", 1, "q", gid)).code is (
        Answer.GROUP_NOT_OPEN
    )
    assert (await store.group(ROOM, "d1", gid)).status is GroupStatus.FAILED  # type: ignore[union-attr]
    await checked(store)


async def test_closing_fails_every_open_group(engine: Engine) -> None:
    """Close: open groups fail (reason closed), formed orders stay payable."""
    store = audited(engine)
    await open_deal(store, size=2, stock=10, limit=2)
    g1 = (await store.join(ROOM, "d1", Mode.START, "a", "A", 1, "q")).group.id  # type: ignore[union-attr]
    g2 = (await store.join(ROOM, "d1", Mode.START, "b", "B", 1, "q")).group.id  # type: ignore[union-attr]
    formed = await store.join(ROOM, "d1", Mode.JOIN, "c", "C", 1, "q", g2)
    change = await store.close(ROOM, "d1")
    assert change.code is Answer.OK and change.deal and change.deal.status is DealStatus.CLOSED
    assert [g.id for g in change.failed] == [g1] and change.failed[0].reason == "closed"
    report = await checked(store)
    assert (report["stock"], report["reserved"]) == (8, 2)
    order = formed.group.members[0].order  # type: ignore[union-attr]
    assert (await store.confirm(ROOM, "d1", order)).code is Answer.OK
    assert (await store.close(ROOM, "d1")).failed == ()
    assert (await store.open(ROOM, "d1")).code is Answer.CONFLICT
    await checked(store)


async def test_group_orders_settle_like_flash_sale_orders(engine: Engine) -> None:
    """Confirm, cancel (owner only), repeats, and the other settlement's conflict."""
    store = audited(engine)
    await open_deal(store, size=2, stock=10, payment_s=60)
    gid = (await store.join(ROOM, "d1", Mode.START, "a", "A", 1, "q")).group.id  # type: ignore[union-attr]
    group = (await store.join(ROOM, "d1", Mode.JOIN, "b", "B", 1, "q", gid)).group
    assert group is not None
    paid, cancelled = group.members[0].order, group.members[1].order
    ok = await store.confirm(ROOM, "d1", paid)
    assert ok.code is Answer.OK and ok.order and ok.order.status is OrderStatus.PAID
    assert (await store.confirm(ROOM, "d1", paid)).code is Answer.OK
    assert (await store.cancel(ROOM, "d1", paid)).code is Answer.CONFLICT
    assert (await store.cancel(ROOM, "d1", cancelled, user="a")).code is Answer.NOT_FOUND
    gone = await store.cancel(ROOM, "d1", cancelled, user="b")
    assert gone.code is Answer.OK and gone.moved and gone.stock == 9
    assert not (await store.cancel(ROOM, "d1", cancelled)).moved
    assert (await store.confirm(ROOM, "d1", cancelled)).code is Answer.CONFLICT
    assert (await store.confirm(ROOM, "d1", "d1-o99")).code is Answer.NOT_FOUND
    report = await checked(store)
    assert (report["paid"], report["cancelled"], report["stock"]) == (1, 1, 9)
    kinds = Counter(e["type"] for e in await events(engine))
    assert (kinds["order.paid"], kinds["order.cancelled"]) == (1, 1)


async def test_unpaid_group_orders_expire_once(engine: Engine) -> None:
    """Past the payment deadline two sweeps expire each order once; a late confirm conflicts."""
    store = audited(engine)
    await open_deal(store, size=2, stock=4, limit=2, payment_s=0.3)
    gid = (await store.join(ROOM, "d1", Mode.START, "a", "A", 2, "q")).group.id  # type: ignore[union-attr]
    group = (await store.join(ROOM, "d1", Mode.JOIN, "b", "B", 2, "q", gid)).group
    assert group is not None and group.status is GroupStatus.FORMED
    assert (await checked(store))["stock"] == 0

    async def expired() -> int | None:
        swept = await asyncio.gather(store.sweep(), store.sweep())
        count = sum(item.expired for batch in swept for item in batch)
        return count or None

    assert await eventually(expired, timeout=5) == 2
    assert (await store.confirm(ROOM, "d1", group.members[0].order)).code is Answer.CONFLICT
    report = await checked(store)
    assert (report["stock"], report["expired"]) == (4, 4)
    kinds = Counter(e["type"] for e in await events(engine))
    assert kinds["order.expired"] == 2
