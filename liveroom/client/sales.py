"""``lr.sales`` and ``lr.orders``: flash sales and their orders. See ``docs/flashsale.md``.

A sale is created closed (or open, with ``open=True``), opened, and closed; a buy reserves
units and makes an order, which the backend confirms once paid or cancels, or which expires
after ``payment_s``. Stock is never oversold: the audit checks the ledger adds up.
"""

from __future__ import annotations

import builtins

from liveroom.client.http import Http, Json, fields
from liveroom.client.orders import OrderCalls

SALE = "/api/rooms/{room}/sales/{sale}"
ORDER = SALE + "/orders/{order}"


class Sales:
    """Flash sales of a room: create, open, close, stock, buy, audit."""

    def __init__(self, http: Http) -> None:
        self._http = http

    async def create(
        self,
        room: str,
        *,
        sku: str,
        title: str,
        price: int,
        stock: int,
        sale: str | None = None,
        limit: int | None = None,
        start: float | None = None,
        end: float | None = None,
        duration_s: float | None = None,
        payment_s: float | None = None,
        open: bool = False,
    ) -> Json:
        """Create a sale of ``stock`` units of ``sku`` at ``price`` fen; returns the sale.

        ``sale`` is its id (the server makes one if not given; give one to make a retry after a
        ``NetworkError`` safe: the second call answers ``Conflict``). ``limit``: most units one
        user may hold (1). ``start``/``end``: Unix seconds; ``duration_s`` sets ``end`` from the
        opening. ``payment_s``: seconds an order has to be paid. ``open=True`` opens at once.
        """
        body = fields(
            id=sale,
            sku=sku,
            title=title,
            price=price,
            stock=stock,
            limit=limit,
            start=start,
            end=end,
            duration_s=duration_s,
            payment_s=payment_s,
            open=open or None,
        )
        answer: Json = await self._http.call(
            "POST", "/api/rooms/{room}/sales", body, key="sale", room=room
        )
        return answer

    async def list(self, room: str) -> builtins.list[Json]:
        """Every sale of the room, with the host's figures (``reserved``, ``paid``)."""
        sales = await self._http.call("GET", "/api/rooms/{room}/sales", key="sales", room=room)
        return [dict(s) for s in sales]

    async def get(self, room: str, sale: str) -> Json:
        """One sale: ``status``, ``stock``, ``total``, ``reserved``, ``paid``, ``version``..."""
        answer: Json = await self._http.call("GET", SALE, key="sale", room=room, sale=sale)
        return answer

    async def open(self, room: str, sale: str) -> Json:
        """Open the sale: buys are taken from now (or from its ``start``); returns the sale.
        ``Conflict`` if it was closed: a closed sale never opens again."""
        answer: Json = await self._http.call(
            "POST", SALE + "/open", key="sale", room=room, sale=sale
        )
        return answer

    async def close(self, room: str, sale: str) -> Json:
        """Close the sale: buys answer ``ended``; reserved orders may still be paid."""
        answer: Json = await self._http.call(
            "POST", SALE + "/close", key="sale", room=room, sale=sale
        )
        return answer

    async def adjust_stock(self, room: str, sale: str, delta: int) -> Json:
        """Add (``delta`` > 0) or remove units; ``Conflict`` if fewer than that are unreserved.
        Not idempotent: do not repeat it after a ``NetworkError`` without reading the sale."""
        answer: Json = await self._http.call(
            "POST", SALE + "/stock", {"delta": delta}, key="sale", room=room, sale=sale
        )
        return answer

    async def buy(
        self,
        room: str,
        sale: str,
        *,
        user: str,
        request_id: str,
        quantity: int = 1,
        name: str | None = None,
        coupon: str | None = None,
    ) -> Json:
        """Buy for ``user`` (the backend's key; ``name`` is shown in the purchase ticker),
        with one of ``user``'s claimed coupons off the price when ``coupon`` is given.

        Returns the reservation: ``order``, ``deadline`` (Unix seconds to pay by),
        ``quantity``, ``stock``, ``price`` (fen per unit), ``discount``, ``coupon``, ``total``
        (fen to pay). A refusal raises ``Conflict`` (``sold_out``, ``limit_reached``,
        ``not_started``, ``ended``, ``coupon_used``, ``coupon_expired``, ``not_applicable``),
        ``Forbidden`` (``not_yours``) or ``BadRequest`` (``invalid_quantity``). ``request_id``
        makes the buy idempotent: the same user and id get the first answer again, so after a
        ``NetworkError`` or ``Unavailable`` retry with the same id, and make a new id for each
        new purchase.
        """
        body = fields(user=user, name=name, quantity=quantity, request_id=request_id, coupon=coupon)
        answer: Json = await self._http.call("POST", SALE + "/buy", body, room=room, sale=sale)
        return answer

    async def audit(self, room: str, sale: str) -> Json:
        """The sale's ledger, read in one step and checked: ``total``, ``stock``, ``reserved``,
        ``paid``, ``cancelled``, ``expired``, ``orders``, and ``ok`` when every check holds
        (``balanced``: total = stock + reserved + paid; ``counters_match``; no one over limit).
        """
        answer: Json = await self._http.call("GET", SALE + "/audit", room=room, sale=sale)
        return answer


class Orders:
    """Orders of a flash sale: read, confirm payment, cancel."""

    def __init__(self, http: Http) -> None:
        self._calls = OrderCalls(http, ORDER, "sale")

    async def get(self, room: str, sale: str, order: str) -> Json:
        """One order: ``user``, ``quantity``, ``status`` (``reserved``, ``paid``,
        ``cancelled``, ``expired``), ``deadline``, ``request_id``."""
        return await self._calls.get(room, sale, order)

    async def confirm(self, room: str, sale: str, order: str) -> Json:
        """Mark a reserved order paid (API key only); call it when the shop has the money.

        Returns ``{"order", "stock"}``. ``Conflict`` if the order is not reserved any more
        (expired past its deadline, cancelled, or paid already: after a ``NetworkError``, a
        ``Conflict`` whose ``details["order"]["status"]`` is ``paid`` means the first call won).
        """
        return await self._calls.confirm(room, sale, order)

    async def cancel(self, room: str, sale: str, order: str) -> Json:
        """Cancel an unpaid order: its units go back on sale and to the buyer's quota, once.
        Returns ``{"order", "stock"}``; ``Conflict`` if it is not reserved any more."""
        return await self._calls.cancel(room, sale, order)
