"""The order seam: ``liveroom.engine.orders`` and ``engine/lua/order_lib.lua``, which settle the
orders of flash sales and group buys alike, on every engine."""

from __future__ import annotations

from typing import Any

import pytest

from liveroom.engine.base import Engine
from liveroom.engine.orders import OrderAnswer, OrderStatus, settled_reply
from liveroom.engine.scripts import script_source
from liveroom.errors import CommandError, ErrorCode
from liveroom.features.events import feed_source
from liveroom.features.flashsale import sale_store
from liveroom.features.flashsale.store import Answer as SaleAnswer
from liveroom.features.flashsale.store import Order as SaleOrder
from liveroom.features.flashsale.store import SaleSpec
from liveroom.features.groupbuy import deal_store
from liveroom.features.groupbuy.store import Answer as DealAnswer
from liveroom.features.groupbuy.store import DealSpec, Mode
from tests.conftest import EVERY_ENGINE
from tests.timeouts import eventually

ROOM = "r1"

#: every script that settles orders, with its package
SETTLING = [
    ("sale_settle", "liveroom.features.flashsale"),
    ("sale_expire", "liveroom.features.flashsale"),
    ("group_settle", "liveroom.features.groupbuy"),
    ("group_sweep", "liveroom.features.groupbuy"),
]


@pytest.mark.parametrize(("name", "package"), SETTLING)
def test_order_lib_comes_after_the_coupon_lib_it_uses(name: str, package: str) -> None:
    """A script that says ``-- uses: order_lib`` gets coupon_lib once, in front of order_lib."""
    source = script_source(name, package)
    assert source.count("local function coupon_return(") == 1
    assert source.count("local function order_settle(") == 1
    assert source.index("local function coupon_return(") < source.index(
        "local function order_release("
    )


def test_a_script_without_order_lib_does_not_get_it() -> None:
    """The buy uses coupon_lib alone: order_lib is not put in front of it."""
    source = script_source("sale_buy", "liveroom.features.flashsale")
    assert "local function coupon_use(" in source
    assert "order_release" not in source


def _order(status: OrderStatus) -> SaleOrder:
    return SaleOrder(
        id="s1-1",
        sale="s1",
        user="u1",
        quantity=1,
        status=status,
        deadline=2.0,
        request_id="q",
        created=1.0,
    )


def test_settled_reply_gives_the_order_and_the_stock() -> None:
    """An ok settle answers the order's public form and the stock left."""
    answer = OrderAnswer(SaleAnswer.OK, _order(OrderStatus.PAID), 4, False)
    assert settled_reply(answer, sale="s1") == {
        "order": _order(OrderStatus.PAID).public(),
        "stock": 4,
    }


def test_settled_reply_refuses_a_missing_order_as_not_found() -> None:
    """No order: ``not_found``, naming the owner in the details."""
    with pytest.raises(CommandError) as caught:
        settled_reply(OrderAnswer(DealAnswer.NOT_FOUND), deal="d1")
    assert caught.value.code is ErrorCode.NOT_FOUND
    assert caught.value.details == {"deal": "d1"}


def test_settled_reply_refuses_a_conflict_with_the_order() -> None:
    """A conflict says the order's status and carries the order."""
    answer = OrderAnswer(SaleAnswer.CONFLICT, _order(OrderStatus.EXPIRED))
    with pytest.raises(CommandError) as caught:
        settled_reply(answer, sale="s1")
    assert caught.value.code is ErrorCode.CONFLICT
    assert caught.value.message == "the order is expired"
    assert caught.value.details == {"sale": "s1", "order": _order(OrderStatus.EXPIRED).public()}


async def _settle_events(engine: Engine) -> list[tuple[str, dict[str, Any]]]:
    """Every order.paid, order.cancelled and order.expired event of the room, in order."""
    source = feed_source(engine)
    await source.open_lane(ROOM, "orders", 0.0)
    entries = (await source.read(ROOM, "orders", "n1", 10_000)).entries
    kinds = {"order.paid", "order.cancelled", "order.expired"}
    return [(e["type"], e["data"]) for e in (x.event() for x in entries) if e["type"] in kinds]


@pytest.mark.parametrize("engine_kind", EVERY_ENGINE, indirect=True)
async def test_settle_events_name_their_sale_or_their_deal_and_group(engine: Engine) -> None:
    """A sale's order events name the sale; a group order's name the deal and the group: the
    same bodies on every engine, for a payment, a cancel and an expiry."""
    sales = sale_store(engine)
    for sale, payment in (("s1", 60.0), ("s2", 0.2)):
        spec = SaleSpec(sale, "A1", "Tea", price=100, stock=5, limit=5, payment_s=payment)
        await sales.create(ROOM, spec)
        await sales.open(ROOM, sale)
    paid = await sales.buy(ROOM, "s1", "u1", 1, "q1")
    cancelled = await sales.buy(ROOM, "s1", "u2", 2, "q2")
    late = await sales.buy(ROOM, "s2", "u3", 1, "q3")
    assert (await sales.confirm(ROOM, "s1", str(paid.order))).code is SaleAnswer.OK
    assert (await sales.cancel(ROOM, "s1", str(cancelled.order), "u2")).code is SaleAnswer.OK

    deals = deal_store(engine)
    for deal, payment in (("d1", 60.0), ("d2", 0.2)):
        spec2 = DealSpec(deal, "B1", "Pot", size=2, price=50, stock=4, payment_s=payment)
        await deals.create(ROOM, spec2)
        await deals.open(ROOM, deal)
    formed = {}
    for deal in ("d1", "d2"):
        first = await deals.join(ROOM, deal, Mode.START, "a", "A", 1, "q" + deal)
        assert first.group is not None
        full = await deals.join(ROOM, deal, Mode.JOIN, "b", "B", 1, "q" + deal, first.group.id)
        assert full.formed and full.group is not None
        formed[deal] = full.group
    d1 = {m.user: m.order for m in formed["d1"].members}
    assert (await deals.confirm(ROOM, "d1", d1["a"])).code is DealAnswer.OK
    assert (await deals.cancel(ROOM, "d1", d1["b"], "b")).code is DealAnswer.OK

    expired_so_far: list[int] = []

    async def swept() -> bool:
        expired_so_far.extend(item.expired for item in await sales.sweep())
        expired_so_far.extend(item.expired for item in await deals.sweep())
        return sum(expired_so_far) == 3

    await eventually(swept)
    d2 = {m.user: m.order for m in formed["d2"].members}
    got = await _settle_events(engine)
    sale_events = [
        ("order.paid", {"order": paid.order, "sale": "s1", "user": "u1", "quantity": 1}),
        ("order.cancelled", {"order": cancelled.order, "sale": "s1", "user": "u2", "quantity": 2}),
        ("order.expired", {"order": late.order, "sale": "s2", "user": "u3", "quantity": 1}),
    ]
    g1, g2 = formed["d1"].id, formed["d2"].id
    deal_events = [
        ("order.paid", {"order": d1["a"], "deal": "d1", "group": g1, "user": "a", "quantity": 1}),
        (
            "order.cancelled",
            {"order": d1["b"], "deal": "d1", "group": g1, "user": "b", "quantity": 1},
        ),
    ]
    expired = [
        ("order.expired", {"order": d2[u], "deal": "d2", "group": g2, "user": u, "quantity": 1})
        for u in ("a", "b")
    ]
    # the sweeps visit the sales first, and s2's order is due before d2's, which expire by id
    assert got == sale_events[:2] + deal_events + sale_events[2:] + expired
