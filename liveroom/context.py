"""What a feature may use of the node it runs on: ``NodeContext``, and the seams between features.

Features receive a ``NodeContext`` when they are built and never import ``liveroom.app``: the
composition root sits above them, as a Starlette endpoint never imports its ``Starlette`` app.
The protocols here are the declared seams; a feature reaches another feature only through one
of them.

Business events for the shop's backend (``docs/events.md``) are the one exception to "through
``NodeContext``": they must be appended in the very step that changes the state, so a feature
appends them from its store, through the engine's outbox (``MemoryHost.emit_now``;
``RedisCore.outbox`` and ``outbox()`` in the Lua scripts), and the events feature reads them
from there. No feature imports the events feature, and it imports none.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol

from liveroom.connection.seams import RoomDirectory, RoomKicks, RoomSnapshots, ViewerJoins

__all__ = [
    "NO_ANALYTICS",
    "AnalyticsSink",
    "FollowGraph",
    "NodeContext",
    "RoomDirectory",
    "RoomKicks",
    "RoomSnapshots",
    "SaleStock",
    "ViewerJoins",
]

if TYPE_CHECKING:
    from liveroom.auth import Identity
    from liveroom.config import Settings
    from liveroom.engine.base import Engine
    from liveroom.hub import Hub


class SaleStock(Protocol):
    """Flash-sale stock, as the flashsale feature keeps it (``liveroom.features.flashsale``);
    product cards copy it into a card linked to a sale."""

    async def stock(self, room: str, sale: str) -> tuple[str, int] | None:
        """``(sku, units left)`` of the sale, None when the room has no sale by that id.
        Raises ``EngineUnavailable``."""
        ...


class FollowGraph(Protocol):
    """Who follows whom, as the private-traffic feature keeps it (``liveroom.features.private``):
    coupons open to followers only ask it before a claim."""

    async def follows(self, room: str, user: str) -> bool:
        """Whether ``user`` follows the host of ``room`` (the room's ``host`` setting; a room
        without one is its own host). Raises ``EngineUnavailable``."""
        ...


class AnalyticsSink(Protocol):
    """What features tell the host's analytics (``liveroom.features.analytics``) as it happens:
    likes, cards, buys and payments, follows.

    Every method is synchronous and only adds to this node's in-memory tally, which the
    analytics feature writes to shared state once per pulse: call it from a command or route
    handler, never per viewer per frame. Joins, leaves and comments reach analytics through the
    feature hooks (``joined``, ``left``, ``commented``); ``enabled`` is False when the node
    counts nothing (``Settings.analytics``), so a caller may skip work done only for analytics.
    Amounts are integer cents (fen).
    """

    @property
    def enabled(self) -> bool: ...

    def liked(self, room: str, user: str, count: int) -> None:
        """``user`` sent ``count`` likes."""

    def cards_shown(self, room: str, version: int, skus: list[str]) -> None:
        """The board changed to ``version``: ``skus`` are the cards pinned now (a card's pin
        lasts from the board it first appears on to the first later board without it)."""

    def card_clicked(self, room: str, user: str, sku: str) -> None:
        """``user`` clicked the pinned card ``sku``."""

    def buy_tried(self, room: str, user: str, sku: str) -> None:
        """``user`` sent a buy for ``sku``, whatever the answer."""

    def order_reserved(self, room: str, user: str, sku: str, units: int) -> None:
        """A buy by ``user`` reserved ``units`` of ``sku`` (a new order)."""

    def order_paid(
        self, room: str, user: str, sku: str, order: str, units: int, cents: int
    ) -> None:
        """Order ``order`` of ``user`` for ``units`` of ``sku`` is paid: ``cents`` in all.
        Counted once per order id, however often it is reported (a confirm repeated)."""

    def followed(self, room: str, user: str) -> None:
        """``user`` became a follower of the room's host from this room (a new follow only)."""

    def group_step(self, room: str, user: str, step: str) -> None:
        """A step of the group-buy funnel: ``started`` and ``joined`` (``user`` took a place),
        ``formed`` and ``failed`` (a group's outcome, ``user`` empty; reported once per group,
        by the node whose step decided it)."""


class _NoAnalytics:
    """The sink of a node that runs no analytics: it drops everything."""

    enabled = False

    def liked(self, room: str, user: str, count: int) -> None:
        pass

    def cards_shown(self, room: str, version: int, skus: list[str]) -> None:
        pass

    def card_clicked(self, room: str, user: str, sku: str) -> None:
        pass

    def buy_tried(self, room: str, user: str, sku: str) -> None:
        pass

    def order_reserved(self, room: str, user: str, sku: str, units: int) -> None:
        pass

    def order_paid(
        self, room: str, user: str, sku: str, order: str, units: int, cents: int
    ) -> None:
        pass

    def followed(self, room: str, user: str) -> None:
        pass

    def group_step(self, room: str, user: str, step: str) -> None:
        pass


NO_ANALYTICS: AnalyticsSink = _NoAnalytics()


class NodeContext(Protocol):
    """The narrow view of a node that features are built with.

    ``engine`` is the core engine (bus, history, presence, counters); ``hub`` holds this node's
    rooms and viewers; ``now()`` is the clock every feature reads wall time from, in seconds
    since the epoch (tests inject their own).
    """

    @property
    def settings(self) -> Settings: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def hub(self) -> Hub: ...

    @property
    def rooms(self) -> RoomDirectory:
        """Room settings. Set once every feature is built: read it in handlers and hooks, not
        in a feature's ``__init__``."""
        ...

    @property
    def sales(self) -> SaleStock | None:
        """The node's flash sales, None when it runs none. Set once every feature is built:
        read it when handling a call, not in a feature's ``__init__``."""
        ...

    @property
    def analytics(self) -> AnalyticsSink:
        """Where features report likes, cards, buys and payments for the host's analytics
        (``NO_ANALYTICS`` when the node runs none). Set once every feature is built: read it
        when handling a call, not in a feature's ``__init__``."""
        ...

    @property
    def follows(self) -> FollowGraph | None:
        """Who follows each room's host, None when the node runs no private-traffic feature.
        Set once every feature is built: read it when handling a call."""
        ...

    @property
    def log(self) -> logging.Logger: ...

    def now(self) -> float:
        """Wall-clock time in seconds since the epoch."""
        ...

    def comment_posted(
        self, room: str, who: Identity, text: str, after: int | None = None
    ) -> Awaitable[None] | None:
        """Tell every feature that ``who`` posted ``text`` (keyword joins hang off this).
        ``after``: the room offset the comment follows (every event up to it came first).
        Runs the features' synchronous hooks (``Feature.heard``) now, and returns the part
        left to await (the ``commented`` hooks they asked for), or None when none asked: most
        comments cost no coroutine."""
        ...

    async def order_paid(self, room: str, user: str, order: dict[str, Any]) -> None:
        """Tell every feature that ``user``'s order in ``room`` is paid. ``order`` is the
        order's public form plus ``kind`` (``"sale"``, ``"group"``, ...). A repeated confirm
        calls it again for the same order: a listener that must act once keys on
        ``(kind, order["id"])``."""
        ...
