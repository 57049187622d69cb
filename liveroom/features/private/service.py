"""``PrivateTraffic``: following a room's host, the host's private cards, and bookings of a
room's next live, turned into replies, private notices and room events.

- A follow is stored under the host's scope (``store.host_scope``) with its ``user.followed``
  event; the room's ``followers`` event follows, throttled per node; the invite card goes to
  the follower alone (``RoomBus.notify``: every connection of that user in the room, on every
  node; never a room event).
- A paid order (``order_paid``, any kind) brings the service card to the buyer alone, once per
  ``(kind, order id)`` over all nodes.
- A booking round opens when the host schedules the next live. When the room goes live, its
  bookings are announced, one ``room.started`` event each, by whichever node gets there first:
  the node that relays the room's settings change, or any node's sweep (``sweep``), which also
  finishes a round a dead node left half-announced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from liveroom.auth import Identity
from liveroom.context import AnalyticsSink, RoomDirectory
from liveroom.engine.base import RoomBus
from liveroom.errors import CommandError, EngineUnavailable
from liveroom.features.private.errors import PrivateCode
from liveroom.features.private.settings import PrivateSettings
from liveroom.features.private.store import Booked, Booking, PrivateStore, host_scope
from liveroom.protocol import event, room_event_body
from liveroom.tasks import stop

log = logging.getLogger("liveroom.private")

#: a store refusal -> the code the caller sees
REFUSALS: dict[Booking, tuple[PrivateCode, str]] = {
    Booking.NOT_SCHEDULED: (PrivateCode.NOT_SCHEDULED, "no upcoming live is scheduled here"),
    Booking.ROOM_LIVE: (PrivateCode.ROOM_LIVE, "the room is live now"),
    Booking.ROOM_ENDED: (PrivateCode.ROOM_ENDED, "the scheduled live is over"),
    Booking.BUSY: (PrivateCode.BOOKING_BUSY, "the last live's bookings are being announced"),
}


class PrivateTraffic:
    """The node's follows, cards and bookings; also its ``FollowGraph`` (``follows``).

    ``rooms`` and ``analytics`` are read when called (the node sets them once every feature is
    built).
    """

    def __init__(
        self,
        store: PrivateStore,
        bus: RoomBus,
        rooms: Callable[[], RoomDirectory],
        analytics: Callable[[], AnalyticsSink],
        settings: PrivateSettings,
    ) -> None:
        self.store = store
        self.bus = bus
        self.rooms = rooms
        self.analytics = analytics
        self.settings = settings
        self._counts: dict[str, asyncio.Task[None]] = {}  # rooms with a followers tick running
        self._recount: set[str] = set()  # ... and a follow since that tick's last count
        self._announcing: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ follows

    async def host_of(self, room: str) -> tuple[str, str]:
        """``(scope, host id)`` of the room's host (the host id is "" for a room that is its
        own host). Raises ``bad_host`` when the room's ``host`` setting cannot be followed."""
        host = (await self.rooms().info(room)).get("host")
        scope = host_scope(room, host)
        if scope is None:
            raise CommandError(
                PrivateCode.BAD_HOST, "the room's host id has characters a follow cannot take"
            )
        return scope, host or ""

    async def follows(self, room: str, user: str) -> bool:
        """Whether ``user`` follows the host of ``room`` (the ``FollowGraph`` seam); a host
        that cannot be followed (``bad_host``) has no followers."""
        scope = host_scope(room, (await self.rooms().info(room)).get("host"))
        return scope is not None and await self.store.follows(scope, user)

    async def follow(self, room: str, who: Identity) -> dict[str, Any]:
        """Follow the room's host (idempotent). Every follow answered ok sends the invite card,
        when one is set, to ``who`` alone: a card lost on the way comes again on the next tap."""
        user = _signed_in(who)
        scope, host = await self.host_of(room)
        answer = await self.store.follow(scope, room, user, host)
        if answer.changed:
            self.analytics().followed(room, user)
            self.followers_moved(room, scope)
        card = await self.card(room, scope, "invite")
        if card is not None:
            await self.bus.notify(room, user, event("invite_card", card=card))
        return {"following": True, "new": answer.changed, "followers": answer.followers}

    async def unfollow(self, room: str, who: Identity) -> dict[str, Any]:
        user = _signed_in(who)
        scope, host = await self.host_of(room)
        answer = await self.store.unfollow(scope, room, user, host)
        if answer.changed:
            self.followers_moved(room, scope)
        return {"following": False, "removed": answer.changed, "followers": answer.followers}

    async def followers(self, room: str, user: str | None) -> dict[str, Any]:
        """The host's follower count, and whether ``user`` (when given) follows."""
        scope, host = await self.host_of(room)
        out: dict[str, Any] = {"host": host or None, "followers": await self.store.followers(scope)}
        if user:
            out["following"] = await self.store.follows(scope, user)
        return out

    def followers_moved(self, room: str, scope: str) -> None:
        """The host's follower count changed: the room's ``followers`` event goes out now if
        none went out in the last ``followers_throttle_s`` on this node, else at its end."""
        if room in self._counts:
            self._recount.add(room)
        else:
            self._counts[room] = self._spawn(self._count(room, scope))

    async def _count(self, room: str, scope: str) -> None:
        try:
            while True:
                self._recount.discard(room)
                with contextlib.suppress(EngineUnavailable):
                    count = await self.store.followers(scope)
                    await self.bus.publish(room, room_event_body("followers", count=count))
                await asyncio.sleep(self.settings.followers_throttle_s)
                if room not in self._recount:
                    return
        finally:
            self._counts.pop(room, None)

    # ------------------------------------------------------------------ cards

    async def card(self, room: str, scope: str, kind: str) -> dict[str, Any] | None:
        """The card of ``kind`` that applies in ``room``: the room's own, else its host's."""
        card = await self.store.card(room, f"room.{kind}")
        return card if card is not None else await self.store.card(scope, f"host.{kind}")

    async def set_card(
        self, room: str, kind: str, card: dict[str, Any] | None, for_host: bool
    ) -> dict[str, Any]:
        """Set (None: remove) the room's card of ``kind``, or its host's for all its rooms."""
        if for_host:
            scope, _ = await self.host_of(room)
            await self.store.put_card(scope, f"host.{kind}", card)
        else:
            await self.store.put_card(room, f"room.{kind}", card)
        return await self.cards(room)

    async def cards(self, room: str) -> dict[str, Any]:
        """Every card of the room as the host set it: ``{kind: {room, host, applies}}``."""
        scope, host = await self.host_of(room)
        out: dict[str, Any] = {"host": host or None}
        for kind in ("invite", "service"):
            own = await self.store.card(room, f"room.{kind}")
            hosts = await self.store.card(scope, f"host.{kind}")
            out[kind] = {"room": own, "host": hosts, "applies": own or hosts}
        return out

    async def order_paid(self, room: str, user: str, order: dict[str, Any]) -> None:
        """Offer the service card to the buyer of a paid order, once per ``(kind, id)``."""
        if order.get("status", "paid") != "paid":
            return
        scope, _ = await self.host_of(room)
        card = await self.card(room, scope, "service")
        if card is None:
            return
        kind, order_id = str(order.get("kind", "sale")), str(order.get("id", ""))
        if not order_id or not await self.store.offer_once(room, f"{kind}/{order_id}"):
            return
        note = event("service_card", card=card, order=order_id, order_kind=kind)
        await self.bus.notify(room, user, note)

    # ------------------------------------------------------------------ bookings

    async def schedule(self, room: str, title: str, starts: float) -> dict[str, Any]:
        """Open (or change) the booking round of the room's next live; viewers see it."""
        answer = _accepted(await self.store.schedule(room, title, starts))
        public = answer.schedule.public() if answer.schedule is not None else None
        await self.bus.publish(room, room_event_body("booking", booking=public))
        return {"booking": public}

    async def book(self, room: str, who: Identity) -> dict[str, Any]:
        """Book ``who`` for the room's scheduled live (idempotent)."""
        answer = _accepted(await self.store.book(room, _signed_in(who)))
        bookings = answer.schedule.bookings if answer.schedule is not None else 0
        return {"booked": True, "new": answer.new, "bookings": bookings}

    async def booking(self, room: str) -> dict[str, Any] | None:
        """The room's booking round as viewers see it; None when none was scheduled."""
        current = await self.store.round(room)
        return current.public() if current is not None else None

    async def booking_for(self, room: str, user: str | None) -> dict[str, Any]:
        """The room's round, and whether ``user`` (when given) booked it."""
        out: dict[str, Any] = {"booking": await self.booking(room)}
        if user:
            out["booked"] = await self.store.booked(room, user)
        return out

    def room_changed(self, room: str) -> None:
        """The room's settings changed (it may have gone live): announce its bookings now
        rather than at the next sweep."""
        if room not in self._announcing:
            self._announcing[room] = self._spawn(self._announce_soon(room))

    async def _announce_soon(self, room: str) -> None:
        try:
            with contextlib.suppress(EngineUnavailable):
                await self.announce(room)
        finally:
            self._announcing.pop(room, None)

    async def announce(self, room: str) -> int:
        """Announce every booking of the room if it is live: a ``room.started`` event each,
        exactly once over all nodes. How many this call announced."""
        total = 0
        while True:
            step = await self.store.announce(room)
            total += step.announced
            if not step.started or not step.left:
                if total:
                    log.info("room %s: %d bookings announced", room, total)
                return total

    async def sweep(self) -> None:
        """Announce the bookings of every room that went live, and drop finished rounds from
        the index. Every node sweeps; the store's steps make each booking's event happen once."""
        for room in await self.store.rounds():
            await self.announce(room)
            await self.store.retire(room)

    # ------------------------------------------------------------------ tasks

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def shutdown(self) -> None:
        await stop(list(self._tasks))


def _signed_in(who: Identity) -> str:
    if who.anonymous:
        raise CommandError(PrivateCode.LOGIN_REQUIRED, "sign in to follow or book")
    return who.user


def _accepted(answer: Booked) -> Booked:
    refusal = REFUSALS.get(answer.code)
    if refusal is not None:
        raise CommandError(*refusal)
    return answer
