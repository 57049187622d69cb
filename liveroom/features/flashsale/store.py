"""The flash-sale store: sales, atomic buys, orders with payment deadlines, and the ledger.

``SaleStore`` is the contract; ``MemorySaleStore`` (``store_memory.py``) and ``RedisSaleStore``
(``store_redis.py``: one Lua script per atomic step, every key of a sale under its room's hash
tag) fulfil it, and the feature builds the one for its engine (``sale_store``).
``tests/flashsale/test_store.py`` runs one conformance suite against both, so the two give the
same answers to the same calls.

The invariant every step keeps, and ``audit`` checks from the ledger::

    total == stock + reserved + paid        (total: the initial stock plus adjustments)
    no user holds (reserved + paid) more than the sale's limit
    every order id appears once in the order log

Times are seconds since the epoch as floats, kept to the millisecond; ``0`` means "not set".
The store decides time itself (the Redis one from Redis' clock, the memory one from the memory
engine's), so several nodes sweeping or buying at once agree on what has expired. Milliseconds
appear only inside Redis and its scripts (``store_redis.py`` converts at the boundary).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from liveroom.engine import orders
from liveroom.engine.coupons import CouponAnswer

# the engine's, named here too: a feature's callers read its orders' statuses and answers here
from liveroom.engine.orders import OrderAnswer as OrderAnswer
from liveroom.engine.orders import OrderStatus as OrderStatus

#: the most units one buy may ask for; more is ``invalid_quantity`` before the store is asked
MAX_QUANTITY = 10_000


class SaleStatus(StrEnum):
    """A sale's lifecycle: CREATED → OPEN → CLOSED (or CREATED → CLOSED)."""

    CREATED = "created"
    OPEN = "open"
    CLOSED = "closed"


class Answer(StrEnum):
    """What the store says to a buy, a confirm, a cancel or a lifecycle change."""

    OK = "ok"
    SOLD_OUT = "sold_out"
    LIMIT_REACHED = "limit_reached"
    NOT_STARTED = "not_started"
    ENDED = "ended"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"


@dataclass(frozen=True, slots=True)
class SaleSpec:
    """What the host gives to create a sale. Validated by the feature before it gets here."""

    id: str
    sku: str
    title: str
    price: int  # in the smallest currency unit (fen)
    stock: int
    limit: int  # units per user
    start: float = 0.0  # 0: from the moment it is opened
    end: float = 0.0  # 0: until closed, or start + duration
    duration: float = 0.0  # seconds from opening, when ``end`` is not given
    payment_s: float = 900.0  # seconds a reserved order waits for payment


@dataclass(frozen=True, slots=True)
class Sale:
    """A sale's state, read in one step. ``version`` rises with every change."""

    id: str
    room: str
    sku: str
    title: str
    price: int
    total: int
    stock: int
    limit: int
    start: float
    end: float
    duration: float
    payment_s: float
    status: SaleStatus
    reserved: int
    paid: int
    version: int
    created: float

    @property
    def sold_out(self) -> bool:
        return self.stock <= 0

    def public(self) -> dict[str, Any]:
        """What viewers see: snapshot, ``sale`` events and the API."""
        return {
            "id": self.id,
            "sku": self.sku,
            "title": self.title,
            "price": self.price,
            "stock": self.stock,
            "total": self.total,
            "limit": self.limit,
            "start": self.start or None,
            "end": self.end or None,
            "status": self.status.value,
            "sold_out": self.sold_out,
            "version": self.version,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Order(orders.Order):
    """A reservation in a sale (``liveroom.engine.orders.Order``: ``price`` is the sale's unit
    price when it was made)."""

    sale: str

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sale": self.sale,
            "user": self.user,
            "quantity": self.quantity,
            "status": self.status.value,
            "deadline": self.deadline,
            "request_id": self.request_id,
            "created": self.created,
            "price": self.price,
            "discount": self.discount,
            "coupon": self.coupon or None,
            "total": self.total,
        }


@dataclass(frozen=True, slots=True)
class BuyAnswer:
    """The answer to one buy. The same (user, request id) always gets the same answer.

    ``stock`` is the stock left now; ``fresh`` is True only for the call that reserved (a
    replayed answer, or a refusal, moved nothing). ``code`` is a ``CouponAnswer`` when the
    buy's coupon refused it. ``price``, ``discount`` and ``coupon`` are the order's (on ok).
    """

    code: Answer | CouponAnswer
    quantity: int
    order: str | None = None
    deadline: float | None = None
    stock: int = 0
    fresh: bool = False
    price: int = 0
    discount: int = 0
    coupon: str = ""

    @property
    def total(self) -> int:
        """What the buyer pays for the order, in fen (as ``Order.total``)."""
        return self.price * self.quantity - self.discount


@dataclass(frozen=True, slots=True)
class SaleChange:
    code: Answer
    sale: Sale | None = None


@dataclass(frozen=True, slots=True)
class Swept:
    """Orders one sweep expired in one sale, and the stock left after."""

    room: str
    sale: str
    expired: int
    stock: int


@dataclass(frozen=True, slots=True)
class Ledger:
    """Everything ``audit`` needs, read in one consistent step."""

    sale: Sale
    orders: list[Order]
    held: dict[str, int]  # units reserved or paid, per user, as the store counts them
    log: list[str]  # order ids in the order they were created


class SaleStore(Protocol):
    """Flash sales of every room. Each method is one atomic step."""

    async def create(self, room: str, spec: SaleSpec) -> SaleChange:
        """A new sale in CREATED; ``conflict`` (with the existing sale) when the id is taken."""
        ...

    async def get(self, room: str, sale: str) -> Sale | None: ...

    async def in_room(self, room: str) -> list[Sale]:
        """Every sale of the room, by creation time."""
        ...

    async def open(self, room: str, sale: str) -> SaleChange:
        """CREATED → OPEN (start defaults to now, end to start + duration). Idempotent;
        ``conflict`` for a closed sale."""
        ...

    async def close(self, room: str, sale: str) -> SaleChange:
        """No more buys. Reserved orders may still be paid until their deadline. Idempotent."""
        ...

    async def adjust(self, room: str, sale: str, delta: int) -> SaleChange:
        """Add ``delta`` units (negative: take away) to stock and total; ``conflict`` when
        fewer than ``-delta`` units are unreserved."""
        ...

    async def buy(
        self, room: str, sale: str, user: str, quantity: int, request_id: str, coupon: str = ""
    ) -> BuyAnswer:
        """Check window, limit and stock (and ``coupon``, when given: the user's, unused, valid,
        applicable), then reserve and use the coupon, all at once; or replay the answer already
        given to (``user``, ``request_id``). ``quantity`` is 1..MAX_QUANTITY. A cancel or an
        expiry gives the coupon back in its own step (``liveroom.engine.coupons``)."""
        ...

    async def confirm(self, room: str, sale: str, order: str) -> OrderAnswer[Answer, Order]:
        """Mark a reserved order paid. Again on a paid order: ok. Past its deadline, the order
        expires instead and the answer is ``conflict``."""
        ...

    async def cancel(
        self, room: str, sale: str, order: str, user: str = ""
    ) -> OrderAnswer[Answer, Order]:
        """Give a reserved order's stock and quota back, once. ``user`` (when given) must own
        the order, or the answer is ``not_found``. Cancelling a paid order is ``conflict``."""
        ...

    async def order(self, room: str, sale: str, order: str) -> Order | None: ...

    async def sweep(self, batch: int = 500) -> list[Swept]:
        """Expire reserved orders past their deadline, in every sale that may hold some.

        Safe from many nodes at once: each order is released by exactly one sweep.
        """
        ...

    async def ledger(self, room: str, sale: str) -> Ledger | None: ...

    async def stock_gate(self, room: str, sale: str, interval: float) -> float:
        """Ask to publish a stock update now. 0 when granted (and the gate shuts for
        ``interval`` seconds on every node), else the seconds until it opens."""
        ...


def audit(ledger: Ledger) -> dict[str, Any]:
    """Check the sale's invariants from its ledger; ``ok`` is True when all hold."""
    sale = ledger.sale
    by_status = {status: 0 for status in OrderStatus}
    held: dict[str, int] = {}
    for order in ledger.orders:
        by_status[order.status] += order.quantity
        if order.status in (OrderStatus.RESERVED, OrderStatus.PAID):
            held[order.user] = held.get(order.user, 0) + order.quantity
    reserved = by_status[OrderStatus.RESERVED]
    paid = by_status[OrderStatus.PAID]
    ids = [order.id for order in ledger.orders]
    unique = (
        len(set(ledger.log)) == len(ledger.log)
        and len(set(ids)) == len(ids)
        and set(ids) == set(ledger.log)
    )
    over = sorted(user for user, units in held.items() if units > sale.limit)
    balanced = sale.total == sale.stock + reserved + paid and sale.stock >= 0
    counters = (
        sale.reserved == reserved
        and sale.paid == paid
        and {u: n for u, n in ledger.held.items() if n} == held
    )
    return {
        "sale": sale.id,
        "sku": sale.sku,
        "total": sale.total,
        "stock": sale.stock,
        "reserved": reserved,
        "paid": paid,
        "cancelled": by_status[OrderStatus.CANCELLED],
        "expired": by_status[OrderStatus.EXPIRED],
        "orders": len(ledger.orders),
        "buyers": len(held),
        "limit": sale.limit,
        "over_limit": over,
        "unique_orders": unique,
        "balanced": balanced,
        "counters_match": counters,
        "ok": balanced and unique and counters and not over,
    }
