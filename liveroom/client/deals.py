"""``lr.deals`` and ``lr.group_orders``: group buys (拼团) and their orders. See
``docs/groupbuy.md``.

A deal is created (open with ``open=True``), opened and closed; places are taken by starting,
joining or being matched into a group; a group that fills turns every place into an order,
which the backend confirms once paid or cancels, or which expires after ``payment_s``. The
audit checks that stock, places and orders add up.
"""

from __future__ import annotations

import builtins

from liveroom.client.http import Http, Json, fields
from liveroom.client.orders import OrderCalls

DEAL = "/api/rooms/{room}/deals/{deal}"
GROUP = DEAL + "/groups/{group}"
ORDER = DEAL + "/orders/{order}"


class Deals:
    """Group deals of a room: create, open, close, groups, places, audit."""

    def __init__(self, http: Http) -> None:
        self._http = http

    async def create(
        self,
        room: str,
        *,
        sku: str,
        title: str,
        size: int,
        price: int,
        stock: int,
        deal: str | None = None,
        limit: int | None = None,
        fill_s: float | None = None,
        start: float | None = None,
        end: float | None = None,
        duration_s: float | None = None,
        payment_s: float | None = None,
        open: bool = False,
    ) -> Json:
        """Create a deal: groups of ``size`` buy ``sku`` at ``price`` fen per unit, ``stock``
        units in all; returns the deal. ``limit``: units one user may hold (1); ``fill_s``:
        seconds a group has to fill; the rest as ``sales.create``. Give ``deal`` (its id) to
        make a retry after a ``NetworkError`` safe (the second call answers ``Conflict``)."""
        body = fields(
            id=deal,
            sku=sku,
            title=title,
            size=size,
            price=price,
            stock=stock,
            limit=limit,
            fill_s=fill_s,
            start=start,
            end=end,
            duration_s=duration_s,
            payment_s=payment_s,
            open=open or None,
        )
        answer: Json = await self._http.call(
            "POST", "/api/rooms/{room}/deals", body, key="deal", room=room
        )
        return answer

    async def list(self, room: str) -> builtins.list[Json]:
        """Every deal of the room, with the host's counters."""
        deals = await self._http.call("GET", "/api/rooms/{room}/deals", key="deals", room=room)
        return [dict(d) for d in deals]

    async def get(self, room: str, deal: str) -> Json:
        """One deal: ``status``, ``stock``, ``held``, ``reserved``, ``paid``, ``formed``..."""
        answer: Json = await self._http.call("GET", DEAL, key="deal", room=room, deal=deal)
        return answer

    async def open(self, room: str, deal: str) -> Json:
        """Open the deal: places are taken from now (or from its ``start``)."""
        answer: Json = await self._http.call(
            "POST", DEAL + "/open", key="deal", room=room, deal=deal
        )
        return answer

    async def close(self, room: str, deal: str) -> Json:
        """Close the deal: open groups fail, formed groups' orders may still be paid."""
        answer: Json = await self._http.call(
            "POST", DEAL + "/close", key="deal", room=room, deal=deal
        )
        return answer

    async def audit(self, room: str, deal: str) -> Json:
        """The deal's ledger checked in one step: ``ok`` when stock = left + held + reserved +
        paid, nobody is over the limit and every group is well formed."""
        answer: Json = await self._http.call("GET", DEAL + "/audit", room=room, deal=deal)
        return answer

    async def groups(self, room: str, deal: str, status: str = "open") -> builtins.list[Json]:
        """Open groups, fullest first; ``status="all"``: the latest of every status."""
        groups = await self._http.call(
            "GET", DEAL + "/groups?status={status}", key="groups", room=room, deal=deal,
            status=status,
        )  # fmt: skip
        return [dict(g) for g in groups]

    async def group(self, room: str, deal: str, group: str) -> Json:
        """One group card (``{"group", "deal"}``)."""
        answer: Json = await self._http.call("GET", GROUP, room=room, deal=deal, group=group)
        return answer

    async def start(
        self, room: str, deal: str, *, user: str, request_id: str, name: str | None = None,
        quantity: int = 1, coupon: str | None = None,
    ) -> Json:  # fmt: skip
        """Start a group for ``user``, with one of ``user``'s claimed coupons when ``coupon`` is
        given (checked now, used by the order when the group forms). Returns the place:
        ``group``, ``formed``, ``order``, ``coupon``, ``discount``... A refusal raises
        ``Conflict``, ``NotFound``, ``Forbidden`` or ``BadRequest`` with its code (a coupon's:
        ``coupon_used``, ``coupon_expired``, ``not_applicable``, ``not_yours``, ``not_found``).
        ``request_id`` makes it idempotent, as ``sales.buy``."""
        body = fields(user=user, name=name, quantity=quantity, request_id=request_id, coupon=coupon)
        answer: Json = await self._http.call("POST", DEAL + "/groups", body, room=room, deal=deal)
        return answer

    async def join(
        self, room: str, deal: str, group: str, *, user: str, request_id: str,
        name: str | None = None, quantity: int = 1, coupon: str | None = None,
    ) -> Json:  # fmt: skip
        """Join ``group`` for ``user`` (a share link's target); as ``start``."""
        body = fields(user=user, name=name, quantity=quantity, request_id=request_id, coupon=coupon)
        answer: Json = await self._http.call(
            "POST", GROUP + "/join", body, room=room, deal=deal, group=group
        )
        return answer

    async def match(
        self, room: str, deal: str, *, user: str, request_id: str, name: str | None = None,
        quantity: int = 1, coupon: str | None = None,
    ) -> Json:  # fmt: skip
        """Put ``user`` in the fullest open group it is not in; as ``start``."""
        body = fields(user=user, name=name, quantity=quantity, request_id=request_id, coupon=coupon)
        answer: Json = await self._http.call("POST", DEAL + "/match", body, room=room, deal=deal)
        return answer


class GroupOrders:
    """Orders of formed groups: read, confirm payment, cancel (as ``lr.orders``)."""

    def __init__(self, http: Http) -> None:
        self._calls = OrderCalls(http, ORDER, "deal")

    async def get(self, room: str, deal: str, order: str) -> Json:
        """One order: ``group``, ``user``, ``quantity``, ``price``, ``discount``, ``coupon``,
        ``coupon_refused``, ``total``, ``status``."""
        return await self._calls.get(room, deal, order)

    async def confirm(self, room: str, deal: str, order: str) -> Json:
        """Mark a reserved group order paid (API key only); as ``orders.confirm``."""
        return await self._calls.confirm(room, deal, order)

    async def cancel(self, room: str, deal: str, order: str) -> Json:
        """Cancel an unpaid group order: its units go back to the deal, once."""
        return await self._calls.cancel(room, deal, order)
