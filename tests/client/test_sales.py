"""Flash sales and orders through the client, with buyers on real WebSockets."""

from __future__ import annotations

import pytest

from liveroom.client import BadRequest, Conflict, ErrorCode, LiveroomClient, SaleCode
from tests.client.conftest import watch
from tests.liveclient import LiveClient
from tests.servers import ServerProcess


async def new_sale(lr: LiveroomClient, room: str, stock: int = 10, limit: int = 2) -> str:
    sale = await lr.sales.create(
        room, sale="s1", sku="SKU-1", title="Tea", price=1990, stock=stock, limit=limit
    )
    assert sale["status"] == "created"
    return str(sale["id"])


async def test_sale_flow_from_open_to_paid(
    server: ServerProcess, lr: LiveroomClient, room: str, viewers: list[LiveClient]
) -> None:
    """Open a sale, a viewer buys over WebSocket, the backend confirms, the audit adds up."""
    sale = await new_sale(lr, room)
    opened = await lr.sales.open(room, sale)
    assert opened["status"] == "open"
    buyer = await watch(server, room, lr.tokens.mint("b1", room=room), viewers)
    reply = await buyer.command("buy", sale=sale, quantity=2, request_id="tap-1")
    assert reply["ok"] is True, reply
    order = await lr.orders.get(room, sale, reply["order"])
    assert (order["user"], order["status"], order["quantity"]) == ("b1", "reserved", 2)
    paid = await lr.orders.confirm(room, sale, reply["order"])
    assert paid["order"]["status"] == "paid" and paid["stock"] == 8
    audit = await lr.sales.audit(room, sale)
    assert audit["ok"] is True
    assert (audit["total"], audit["stock"], audit["reserved"], audit["paid"]) == (10, 8, 0, 2)


async def test_cancel_puts_units_back(lr: LiveroomClient, room: str) -> None:
    """Cancelling a reserved order returns its units to the stock."""
    sale = await new_sale(lr, room, stock=3)
    await lr.sales.open(room, sale)
    bought = await lr.sales.buy(room, sale, user="b1", request_id="r1", quantity=2)
    assert bought["stock"] == 1
    cancelled = await lr.orders.cancel(room, sale, bought["order"])
    assert cancelled["order"]["status"] == "cancelled" and cancelled["stock"] == 3
    assert (await lr.sales.get(room, sale))["stock"] == 3


async def test_confirm_after_cancel_is_a_conflict(lr: LiveroomClient, room: str) -> None:
    """Confirming a cancelled order raises Conflict with the order's state in the details."""
    sale = await new_sale(lr, room)
    await lr.sales.open(room, sale)
    bought = await lr.sales.buy(room, sale, user="b1", request_id="r1")
    await lr.orders.cancel(room, sale, bought["order"])
    with pytest.raises(Conflict) as caught:
        await lr.orders.confirm(room, sale, bought["order"])
    assert caught.value.code is ErrorCode.CONFLICT
    assert caught.value.details["order"]["status"] == "cancelled"


async def test_buy_with_the_same_request_id_buys_once(lr: LiveroomClient, room: str) -> None:
    """A repeated buy with the same request id answers the same order and takes no stock."""
    sale = await new_sale(lr, room)
    await lr.sales.open(room, sale)
    first = await lr.sales.buy(room, sale, user="b1", request_id="r1", name="小王")
    again = await lr.sales.buy(room, sale, user="b1", request_id="r1", name="小王")
    assert again["order"] == first["order"]
    assert (await lr.sales.audit(room, sale))["orders"] == 1


async def test_sold_out_raises_conflict_with_its_code(lr: LiveroomClient, room: str) -> None:
    """A buy for more than is left raises Conflict coded sold_out, not to be retried."""
    sale = await new_sale(lr, room, stock=1)
    await lr.sales.open(room, sale)
    await lr.sales.buy(room, sale, user="b1", request_id="r1")
    with pytest.raises(Conflict) as caught:
        await lr.sales.buy(room, sale, user="b2", request_id="r1")
    error = caught.value
    assert (error.code, error.status, error.retry) == (SaleCode.SOLD_OUT, 409, False)
    assert error.details == {"sale": sale, "request_id": "r1"}


async def test_closed_sale_refuses_buys_with_ended(lr: LiveroomClient, room: str) -> None:
    """After close, a buy raises Conflict coded ended."""
    sale = await new_sale(lr, room)
    await lr.sales.open(room, sale)
    closed = await lr.sales.close(room, sale)
    assert closed["status"] == "closed"
    with pytest.raises(Conflict) as caught:
        await lr.sales.buy(room, sale, user="b1", request_id="r1")
    assert caught.value.code is ErrorCode.ENDED


async def test_adjust_stock_changes_the_total(lr: LiveroomClient, room: str) -> None:
    """Adding and removing stock moves stock and total together."""
    sale = await new_sale(lr, room, stock=5)
    grown = await lr.sales.adjust_stock(room, sale, 3)
    assert (grown["stock"], grown["total"]) == (8, 8)
    shrunk = await lr.sales.adjust_stock(room, sale, -2)
    assert (shrunk["stock"], shrunk["total"]) == (6, 6)


async def test_list_names_the_rooms_sales(lr: LiveroomClient, room: str) -> None:
    """The room's sales are listed with their ids."""
    await new_sale(lr, room)
    await lr.sales.create(room, sale="s2", sku="SKU-2", title="Cup", price=500, stock=1)
    assert sorted(s["id"] for s in await lr.sales.list(room)) == ["s1", "s2"]


async def test_bad_quantity_raises_bad_request(lr: LiveroomClient, room: str) -> None:
    """A quantity of zero raises BadRequest coded invalid_quantity."""
    sale = await new_sale(lr, room)
    await lr.sales.open(room, sale)
    with pytest.raises(BadRequest) as caught:
        await lr.sales.buy(room, sale, user="b1", request_id="r1", quantity=0)
    assert caught.value.code is SaleCode.INVALID_QUANTITY
