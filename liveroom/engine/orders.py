"""Reserved orders: the seam through which a flash sale and a group buy settle their orders.

Features do not import each other, yet a flash sale's order and a formed group's order live
the same life: reserved with a payment deadline, then paid, or cancelled or expired with its
units, the buyer's quota and its coupon given back exactly once, each change with its
``order.*`` event in the room's outbox in the same step. That life lives here, below the
features, like the coupons it gives back (``liveroom.engine.coupons``):

- on Redis, ``lua/order_lib.lua``: ``order_settle`` (confirm or cancel) and ``order_expire``
  (the sweep), put in front of any script that says ``-- uses: order_lib``, over six keys of
  the order's owner (a sale or a deal) under the room's hash tag; ``RedisOrders`` calls a
  feature's settle script and reads its reply, ``order_fields`` reads the order JSON;
- on the memory engine, ``MemoryOrders``: the same steps, answers and events, in one
  synchronous call, over an owner's ``OrderBook``.

Each feature keeps its own order record (``Order`` here, with the fields its orders add: the
sale; the deal and the group), its own answer codes (``OrderAnswer``'s ``code``: the feature's
``Answer``, whose ok, not_found and conflict are ``SettleCode``'s strings) and its own event
body (the sale, or the deal and the group). ``settled_reply`` is what an API or a command
answers to a settle. ``docs/flashsale.md`` and ``docs/groupbuy.md`` tell the whole story.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from liveroom.engine.coupons import MemoryCoupons
from liveroom.errors import CommandError, ErrorCode


class OrderStatus(StrEnum):
    """RESERVED → PAID, or RESERVED → CANCELLED / EXPIRED (stock and quota go back)."""

    RESERVED = "reserved"
    PAID = "paid"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class SettleCode(StrEnum):
    """What a confirm or a cancel answers (the same strings in ``order_lib.lua``; each
    feature's ``Answer`` has the three)."""

    OK = "ok"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"


@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """A reservation, as every feature that takes orders keeps it. ``price`` is the unit price
    when it was made; ``discount`` (fen) what its ``coupon`` took off (0 and "" without one);
    the buyer pays ``total``. A feature's order adds what names its owner."""

    id: str
    user: str
    quantity: int
    status: OrderStatus
    deadline: float
    request_id: str
    created: float
    price: int = 0
    discount: int = 0
    coupon: str = ""

    @property
    def total(self) -> int:
        """What the buyer pays, in fen: never below zero (a discount never exceeds the order)."""
        return self.price * self.quantity - self.discount


CodeT = TypeVar("CodeT", bound=StrEnum)
OrderT = TypeVar("OrderT", bound=Order)


@dataclass(frozen=True, slots=True)
class OrderAnswer(Generic[CodeT, OrderT]):
    """The answer to a confirm or cancel, in the feature's codes (``CodeT``: its ``Answer``)
    and orders (``OrderT``). ``moved`` is True when stock came back in this call."""

    code: CodeT
    order: OrderT | None = None
    stock: int = 0
    moved: bool = False


class OrderBook(Protocol[OrderT]):
    """One owner's orders (a sale's, a deal's), as ``MemoryOrders`` settles them: the memory
    twin of the six keys ``order_lib.lua`` takes."""

    @property
    def orders(self) -> dict[str, OrderT]:
        """Every order, by id."""
        ...

    @property
    def due(self) -> dict[str, float]:
        """Reserved order id -> payment deadline."""
        ...

    @property
    def held(self) -> dict[str, int]:
        """Units each user holds (reserved + paid, and whatever else the owner counts)."""
        ...

    @property
    def stock(self) -> int:
        """Units left."""
        ...

    def count(self, *, stock: int = 0, reserved: int = 0, paid: int = 0) -> None:
        """Add to the owner's counters, and move its version once."""
        ...


class MemoryOrders(Generic[CodeT, OrderT]):
    """The memory engine's twin of ``order_lib.lua`` for one feature's orders. Every method is
    synchronous, so a store calls it inside its own atomic step.

    ``codes`` turns a ``SettleCode`` into the feature's answer; ``event`` is the feature's
    ``order.*`` event body for an order (``data`` in the scripts)."""

    def __init__(
        self,
        clock: Callable[[], float],
        emit: Callable[[str, str, dict[str, Any]], str],
        coupons: MemoryCoupons,
        codes: Callable[[str], CodeT],
        event: Callable[[OrderT], dict[str, Any]],
    ) -> None:
        self._clock = clock
        self._emit = emit
        self._coupons = coupons
        self._codes = codes
        self._event = event

    def settle(
        self, room: str, book: OrderBook[OrderT] | None, order_id: str, *, confirm: bool, user: str
    ) -> OrderAnswer[CodeT, OrderT]:
        """``order_settle``: confirm (paid) or cancel order ``order_id`` of ``book`` (None: no
        such owner). ``user`` ("" for any) must own it. A reserved order past its deadline
        expires first; stock, quota and coupon go back exactly once."""
        order = book.orders.get(order_id) if book is not None else None
        if book is None or order is None or (user and order.user != user):
            return OrderAnswer(self._codes(SettleCode.NOT_FOUND))
        moved = False
        if order.status is OrderStatus.RESERVED and round_ms(self._clock()) >= order.deadline:
            order = self.release(room, book, order, OrderStatus.EXPIRED)
            moved = True
        code = SettleCode.OK
        if confirm:
            if order.status is OrderStatus.RESERVED:
                book.due.pop(order.id, None)
                order = replace(order, status=OrderStatus.PAID)
                book.orders[order.id] = order
                self._emit(room, "order.paid", self._event(order))
                book.count(reserved=-order.quantity, paid=order.quantity)
            elif order.status is not OrderStatus.PAID:
                code = SettleCode.CONFLICT
        elif order.status is OrderStatus.RESERVED:
            order = self.release(room, book, order, OrderStatus.CANCELLED)
            moved = True
        elif order.status is OrderStatus.PAID:
            code = SettleCode.CONFLICT
        return OrderAnswer(self._codes(code), order, book.stock, moved)

    def release(
        self, room: str, book: OrderBook[OrderT], order: OrderT, status: OrderStatus
    ) -> OrderT:
        """``order_release``: a reserved order's units back to stock and to its user's quota,
        its coupon back; it becomes ``status`` (cancelled or expired), with its event."""
        order = replace(order, status=status)
        book.orders[order.id] = order
        book.due.pop(order.id, None)
        left = book.held.get(order.user, 0) - order.quantity
        if left > 0:
            book.held[order.user] = left
        else:
            book.held.pop(order.user, None)
        book.count(stock=order.quantity, reserved=-order.quantity)
        self._emit(room, f"order.{status.value}", self._event(order))
        if order.coupon:
            self._coupons.give_back(room, order.coupon, order.id, status.value)
        return order

    def expire(self, room: str, book: OrderBook[OrderT], now: float, batch: int) -> int:
        """``order_expire``: release up to ``batch`` reserved orders whose deadline is at or
        before ``now``, earliest first. Returns how many expired."""
        due = sorted((d, o) for o, d in book.due.items() if d <= now)[:batch]
        for _, order_id in due:
            self.release(room, book, book.orders[order_id], OrderStatus.EXPIRED)
        return len(due)


class RedisOrders(Generic[CodeT, OrderT]):
    """A Redis store's side of ``order_lib.lua`` for one feature: its settle script (one that
    returns ``order_settle``'s reply) called through the store's own ``run`` (its slots, its
    package), the reply read into the feature's answer (``codes``) and order (``read``: the
    owner's id and the order JSON)."""

    def __init__(
        self,
        run: Callable[[str, list[str], list[Any]], Awaitable[Any]],
        script: str,
        codes: Callable[[str], CodeT],
        read: Callable[[str, bytes], OrderT],
    ) -> None:
        self._run = run
        self._script = script
        self._codes = codes
        self._read = read

    async def settle(
        self, keys: list[str], owner: str, order: str, *, confirm: bool, user: str
    ) -> OrderAnswer[CodeT, OrderT]:
        """Confirm or cancel ``order`` of ``owner`` (a sale's or a deal's id). ``keys``: the
        six of ``order_lib.lua``, in its order; ``user`` ("" for any) must own the order."""
        action = "confirm" if confirm else "cancel"
        code, raw, stock, moved = await self._run(self._script, keys, [order, action, user, owner])
        return OrderAnswer(
            self._codes(code.decode() if isinstance(code, bytes) else code),
            self._read(owner, raw) if raw is not None else None,
            int(stock),
            bool(moved),
        )


def order_fields(o: dict[str, Any]) -> dict[str, Any]:
    """The fields every stored order carries (its JSON in Redis, times in ms), as ``Order``'s
    keyword arguments (times in seconds). Orders reserved before coupons carry no price,
    discount or coupon: 0, 0 and ""."""
    return {
        "id": o["id"],
        "user": o["user"],
        "quantity": int(o["quantity"]),
        "status": OrderStatus(o["status"]),
        "deadline": o["deadline"] / 1000,
        "request_id": o["request"],
        "created": o["created"] / 1000,
        "price": int(o.get("price", 0)),
        "discount": int(o.get("discount", 0)),
        "coupon": o.get("coupon", ""),
    }


class PublicOrder(Protocol):
    """What ``settled_reply`` reads of an order: its status and its public form."""

    @property
    def status(self) -> OrderStatus: ...

    def public(self) -> dict[str, Any]: ...


def settled_reply(answer: OrderAnswer[Any, Any], **owner: str) -> dict[str, Any]:
    """What a confirm or a cancel answers its caller: ``{"order", "stock"}`` on ok; else raises
    ``not_found``, or ``conflict`` with the order (whose status says why). ``owner`` names the
    order's owner in the error's details (``sale=...``, ``deal=...``)."""
    order: PublicOrder | None = answer.order
    if answer.code == SettleCode.NOT_FOUND or order is None:
        raise CommandError(ErrorCode.NOT_FOUND, "no such order", **owner)
    if answer.code != SettleCode.OK:
        raise CommandError(
            ErrorCode.CONFLICT,
            f"the order is {order.status.value}",
            **owner,
            order=order.public(),
        )
    return {"order": order.public(), "stock": answer.stock}


def round_ms(seconds: float) -> float:
    """``seconds`` rounded to the millisecond, as Redis keeps times (still seconds)."""
    return round(seconds * 1000) / 1000
