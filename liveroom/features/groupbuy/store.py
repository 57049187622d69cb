"""The group-buy store: deals, groups that fill or fail, the orders of formed groups, the ledger.

``DealStore`` is the contract; ``MemoryDealStore`` (``store_memory.py``) and ``RedisDealStore``
(``store_redis.py``: one Lua script per atomic step, every key of a deal under its room's hash
tag) fulfil it, and the feature builds the one for its engine (``deal_store``).
``tests/groupbuy/test_store.py`` runs one conformance suite against both.

Stock is taken when a member joins (a place holds its units), moves to an order when the group
forms, and comes back exactly once: when the group fails, or when a formed group's order is
cancelled or expires. The invariant every step keeps, and ``audit`` checks from the ledger::

    total == stock + held (places in open groups) + reserved + paid
    no user holds (places in open groups + reserved + paid units) more than the deal's limit
    no group has more than ``size`` members, nor one user twice
    a formed group has exactly ``size`` members, each with one order; a failed one has none

A place may name one of the member's claimed coupons (``liveroom.engine.coupons``): the join
checks it and changes nothing; the step that forms the group uses it on the member's order, if
it can still be used then; a cancel or an expiry gives it back in its own step. A failed group
used no coupon, so it has none to give back.

A group is OPEN, then FORMED or FAILED, and never changes after that. Times are seconds since
the epoch as floats, kept to the millisecond, and decided by the store (Redis' clock on Redis)
so that nodes sweeping at once agree on what has expired.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from liveroom.engine import orders
from liveroom.engine.coupons import COUPON_REFUSALS, CouponAnswer

# the engine's, named here too: a feature's callers read its orders' statuses and answers here
from liveroom.engine.orders import OrderAnswer as OrderAnswer
from liveroom.engine.orders import OrderStatus as OrderStatus

#: the most units one place may hold; more is ``bad_quantity`` before the store is asked
MAX_QUANTITY = 100
#: group sizes a deal may ask for
MIN_SIZE, MAX_SIZE = 2, 50


class DealStatus(StrEnum):
    """A deal's lifecycle: CREATED → OPEN → CLOSED (or CREATED → CLOSED)."""

    CREATED = "created"
    OPEN = "open"
    CLOSED = "closed"


class GroupStatus(StrEnum):
    """OPEN → FORMED (its last place filled) or OPEN → FAILED (deadline or deal closed)."""

    OPEN = "open"
    FORMED = "formed"
    FAILED = "failed"


class Mode(StrEnum):
    """How a viewer asks for a place: start a group, join a given one, or be matched."""

    START = "start"
    JOIN = "join"
    MATCH = "match"


class Answer(StrEnum):
    """What the store says to a join, a settlement or a lifecycle change."""

    OK = "ok"
    SOLD_OUT = "sold_out"
    LIMIT_REACHED = "limit_reached"
    NOT_STARTED = "not_started"
    ENDED = "ended"
    NOT_FOUND = "not_found"
    NO_GROUP = "no_group"  # join: no such group in the deal
    GROUP_FULL = "group_full"  # join: the group has formed
    GROUP_NOT_OPEN = "group_not_open"  # join: the group failed, or its time is up
    ALREADY_IN_GROUP = "already_in_group"
    NO_OPEN_GROUP = "no_open_group"  # match: nothing to join
    CONFLICT = "conflict"


@dataclass(frozen=True, slots=True)
class DealSpec:
    """What the host gives to create a deal. Validated by the routes before it gets here."""

    id: str
    sku: str
    title: str
    size: int  # members a group needs (MIN_SIZE..MAX_SIZE)
    price: int  # the group price per unit, in fen
    stock: int
    limit: int = 1  # units one user may hold at once (open places, reserved, paid)
    fill_s: float = 600.0  # seconds a group has to fill
    start: float = 0.0  # 0: from the moment it is opened
    end: float = 0.0  # 0: until closed, or start + duration
    duration: float = 0.0
    payment_s: float = 900.0  # seconds a formed group's order waits for payment


@dataclass(frozen=True, slots=True)
class Deal:
    """A deal's state, read in one step. ``version`` rises with every change."""

    id: str
    room: str
    sku: str
    title: str
    size: int
    price: int
    total: int
    stock: int
    limit: int
    fill_s: float
    start: float
    end: float
    duration: float
    payment_s: float
    status: DealStatus
    held: int  # units in open groups' places
    reserved: int
    paid: int
    groups: int  # groups ever started
    formed: int
    failed: int
    version: int
    created: float

    def public(self) -> dict[str, Any]:
        """What viewers see: snapshot, ``deal`` events and the API."""
        return {
            "id": self.id,
            "sku": self.sku,
            "title": self.title,
            "size": self.size,
            "price": self.price,
            "stock": self.stock,
            "total": self.total,
            "limit": self.limit,
            "fill_s": self.fill_s,
            "start": self.start or None,
            "end": self.end or None,
            "status": self.status.value,
            "sold_out": self.stock <= 0,
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class Member:
    """One place in a group. ``order`` is set when the group forms; ``coupon``: the coupon the
    member named, which the order uses if it still can then."""

    user: str
    name: str
    quantity: int
    request_id: str
    at: float
    order: str = ""
    coupon: str = ""


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    deal: str
    size: int
    status: GroupStatus
    members: tuple[Member, ...]
    created: float
    deadline: float  # fill by: created + fill_s, or the deal's end if sooner
    closed: float = 0.0  # when it formed or failed
    reason: str = ""  # why it failed: "expired" or "closed"

    @property
    def needs(self) -> int:
        return self.size - len(self.members) if self.status is GroupStatus.OPEN else 0

    def has(self, user: str) -> bool:
        return any(m.user == user for m in self.members)

    def public(self) -> dict[str, Any]:
        """The group card: members (names, not ids), slots left, deadline, outcome."""
        return {
            "id": self.id,
            "deal": self.deal,
            "size": self.size,
            "status": self.status.value,
            "members": [{"user": m.user, "name": m.name} for m in self.members],
            "needs": self.needs,
            "deadline": self.deadline,
            "created": self.created,
            "closed": self.closed or None,
            "reason": self.reason or None,
            "orders": {m.user: m.order for m in self.members if m.order},
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Order(orders.Order):
    """A formed group's order (``liveroom.engine.orders.Order``: ``price`` is the group price
    per unit, ``coupon`` the one the order uses, "" for none)."""

    deal: str
    group: str
    #: why the coupon named at join was not used at the fill ("" when it was, or none named)
    coupon_refused: CouponAnswer | None = None

    def public(self) -> dict[str, Any]:
        refused = self.coupon_refused

        return {
            "id": self.id,
            "deal": self.deal,
            "group": self.group,
            "user": self.user,
            "quantity": self.quantity,
            "price": self.price,
            "discount": self.discount,
            "coupon": self.coupon or None,
            "coupon_refused": COUPON_REFUSALS[refused][0].value if refused else None,
            "total": self.total,
            "status": self.status.value,
            "deadline": self.deadline,
            "request_id": self.request_id,
            "created": self.created,
        }


@dataclass(frozen=True, slots=True)
class JoinAnswer:
    """The answer to one start, join or match. The same (user, request id) always gets the
    same code and group. ``fresh`` is True only for the call that took the place; ``formed``
    only for the call whose place filled the group (its orders are in ``group``). ``code`` is a
    ``CouponAnswer`` when the place's coupon refused it; ``discount`` is what the coupon takes
    off the place's order, as checked when the place was taken."""

    code: Answer | CouponAnswer
    quantity: int
    group: Group | None = None
    stock: int = 0
    fresh: bool = False
    formed: bool = False
    coupon: str = ""
    discount: int = 0


@dataclass(frozen=True, slots=True)
class DealChange:
    """A lifecycle change; ``failed``: the groups a close failed in the same step."""

    code: Answer
    deal: Deal | None = None
    failed: tuple[Group, ...] = ()


@dataclass(frozen=True, slots=True)
class Swept:
    """What one sweep did in one deal: groups it failed, orders it expired, stock after."""

    room: str
    deal: str
    failed: tuple[Group, ...]
    expired: int
    stock: int


@dataclass(frozen=True, slots=True)
class Ledger:
    """Everything ``audit`` needs, read in one consistent step."""

    deal: Deal
    groups: list[Group]  # in creation order
    orders: list[Order]  # in creation order
    held: dict[str, int]  # units per user, as the store counts them


class DealStore(Protocol):
    """Group deals of every room. Each method is one atomic step."""

    async def create(self, room: str, spec: DealSpec) -> DealChange:
        """A new deal in CREATED; ``conflict`` (with the existing deal) when the id is taken."""
        ...

    async def get(self, room: str, deal: str) -> Deal | None: ...

    async def in_room(self, room: str) -> list[Deal]:
        """Every deal of the room, by creation time."""
        ...

    async def open(self, room: str, deal: str) -> DealChange:
        """CREATED → OPEN (start defaults to now, end to start + duration). Idempotent;
        ``conflict`` for a closed deal."""
        ...

    async def close(self, room: str, deal: str) -> DealChange:
        """No more places; every open group fails now (reason "closed"), its stock back.
        Formed groups' orders may still be paid until their deadline. Idempotent."""
        ...

    async def join(
        self,
        room: str,
        deal: str,
        mode: Mode,
        user: str,
        name: str,
        quantity: int,
        request_id: str,
        group: str = "",
        coupon: str = "",
    ) -> JoinAnswer:
        """Take a place, all checks and the move of stock in one step: start a new group, join
        ``group``, or join the fullest open group the user is not in (earliest deadline among
        equals). ``coupon`` (when not empty) must be the user's and usable on the place's order
        now, else its refusal; it changes nothing yet. The place that fills a group forms it:
        every member's place becomes a reserved order, using its coupon if it still can. Or
        replay the answer already given to (``user``, ``request_id``)."""
        ...

    async def group(self, room: str, deal: str, group: str) -> Group | None: ...

    async def groups(self, room: str, deal: str, ids: list[str]) -> list[Group]:
        """The groups of ``ids`` that exist, in the order asked."""
        ...

    async def open_groups(self, room: str, deal: str, limit: int) -> list[Group]:
        """Up to ``limit`` open groups, in the order a match picks them (fullest first)."""
        ...

    async def confirm(self, room: str, deal: str, order: str) -> OrderAnswer[Answer, Order]:
        """As ``SaleStore.confirm``: reserved → paid; again on paid: ok; past the deadline the
        order expires instead and the answer is ``conflict``."""
        ...

    async def cancel(
        self, room: str, deal: str, order: str, user: str = ""
    ) -> OrderAnswer[Answer, Order]:
        """As ``SaleStore.cancel``: a reserved order's units, quota and coupon go back once."""
        ...

    async def order(self, room: str, deal: str, order: str) -> Order | None: ...

    async def sweep(self, batch: int = 500) -> list[Swept]:
        """Fail open groups past their deadline and expire unpaid orders past theirs, in every
        deal that may hold some. Safe from many nodes at once: the step that takes a group or an
        order off its deadline set releases it, so exactly one sweep does."""
        ...

    async def ledger(self, room: str, deal: str) -> Ledger | None: ...

    async def gate(self, room: str, deal: str, what: str, interval: float) -> float:
        """Ask to publish ``what`` ("stock", "groups") of the deal now: 0 when granted (the gate
        then shuts for ``interval`` seconds on every node), else the seconds until it opens."""
        ...


def audit(ledger: Ledger) -> dict[str, Any]:
    """Check the deal's invariants from its ledger; ``ok`` is True when all hold."""
    deal = ledger.deal
    units: dict[str, int] = {}
    held_open = 0
    statuses = {status: 0 for status in GroupStatus}
    bad_groups: list[str] = []
    orders_of: dict[str, list[Order]] = {}
    for order in ledger.orders:
        orders_of.setdefault(order.group, []).append(order)
    for group in ledger.groups:
        statuses[group.status] += 1
        users = [m.user for m in group.members]
        own = orders_of.get(group.id, [])
        shaped = len(users) <= group.size and len(set(users)) == len(users)
        if group.status is GroupStatus.OPEN:
            shaped = shaped and 0 < len(users) < group.size and not own
            held_open += sum(m.quantity for m in group.members)
            for m in group.members:
                units[m.user] = units.get(m.user, 0) + m.quantity
        elif group.status is GroupStatus.FORMED:
            shaped = shaped and len(users) == group.size and len(own) == group.size
            shaped = shaped and {o.id for o in own} == {m.order for m in group.members}
        else:
            shaped = shaped and not own
        if not shaped:
            bad_groups.append(group.id)
    by_status = {status: 0 for status in OrderStatus}
    for order in ledger.orders:
        by_status[order.status] += order.quantity
        if order.status in (OrderStatus.RESERVED, OrderStatus.PAID):
            units[order.user] = units.get(order.user, 0) + order.quantity
    reserved, paid = by_status[OrderStatus.RESERVED], by_status[OrderStatus.PAID]
    # a coupon never takes an order below zero, and only an order using one has a discount
    priced = all(
        0 <= o.discount <= o.quantity * o.price and (o.coupon or not o.discount)
        for o in ledger.orders
    )
    ids = [o.id for o in ledger.orders]
    unique = len(set(ids)) == len(ids) and len(set(g.id for g in ledger.groups)) == len(
        ledger.groups
    )
    over = sorted(user for user, n in units.items() if n > deal.limit)
    balanced = deal.total == deal.stock + held_open + reserved + paid and deal.stock >= 0
    counters = (
        deal.held == held_open
        and deal.reserved == reserved
        and deal.paid == paid
        and deal.groups == len(ledger.groups)
        and deal.formed == statuses[GroupStatus.FORMED]
        and deal.failed == statuses[GroupStatus.FAILED]
        and {u: n for u, n in ledger.held.items() if n} == units
    )
    return {
        "deal": deal.id,
        "sku": deal.sku,
        "size": deal.size,
        "total": deal.total,
        "stock": deal.stock,
        "held": held_open,
        "reserved": reserved,
        "paid": paid,
        "cancelled": by_status[OrderStatus.CANCELLED],
        "expired": by_status[OrderStatus.EXPIRED],
        "groups": {status.value: n for status, n in statuses.items()},
        "orders": len(ledger.orders),
        "limit": deal.limit,
        "over_limit": over,
        "bad_groups": bad_groups,
        "unique": unique,
        "balanced": balanced,
        "counters_match": counters,
        "priced": priced,
        "ok": balanced and unique and counters and priced and not over and not bad_groups,
    }
