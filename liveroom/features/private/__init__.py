"""Private traffic (私域): turning a passing viewer into the shop's own audience. See
``docs/private-traffic.md``.

The package, by layer:

- ``store.py``: the ``PrivateStore`` contract and its records (follows under the host's scope,
  cards, booking rounds); ``store_memory.py`` and ``store_redis.py`` (with
  ``lua/private_*.lua``) fulfil it;
- ``service.py``: ``PrivateTraffic``, the store's answers turned into replies, private cards and
  room events; it is the node's ``FollowGraph`` (``liveroom.context``);
- ``commands.py`` (WebSocket: ``follow``, ``unfollow``, ``book``) and ``routes.py`` (HTTP);
- ``errors.py`` (``PrivateCode``) and ``settings.py`` (``PrivateSettings``).

``PrivateTrafficFeature`` builds them for one node: the snapshot part (the host's follower
count and the booking round), each signed-in viewer's own state at join, the service card on a
paid order (``order_paid``), the fast path of announcing bookings when a room's settings change
(``relayed``), and the booking sweeper.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from starlette.routing import BaseRoute

from liveroom.context import NodeContext
from liveroom.errors import EngineUnavailable
from liveroom.features import Feature, Handler
from liveroom.features.private.commands import Book, Follow, Unfollow
from liveroom.features.private.errors import PrivateCode
from liveroom.features.private.routes import PrivateRoutes
from liveroom.features.private.service import PrivateTraffic
from liveroom.features.private.settings import PrivateSettings
from liveroom.features.private.store import PrivateStore, host_scope
from liveroom.protocol import Command, event, frame
from liveroom.tasks import stop

if TYPE_CHECKING:
    from liveroom.connection.session import Session
    from liveroom.engine.base import Engine, MemoryHost
    from liveroom.engine.redis_core import RedisCore

log = logging.getLogger("liveroom.private")

#: how long a node trusts what a snapshot saw of a room's host and booking round, for joins
VIEW_CACHE_S = 1.0
VIEW_CACHE_ROOMS = 4096

__all__ = ["PrivateCode", "PrivateTraffic", "PrivateTrafficFeature", "private_store"]


def private_store(engine: Engine) -> PrivateStore:
    """The private-traffic store for ``engine``: in its memory, or in its Redis. Each call
    builds a new store (the memory one empty), so a node builds one, in its feature."""

    def memory(host: MemoryHost) -> PrivateStore:
        from liveroom.features.private.store_memory import MemoryPrivateStore

        # the memory engine's room_info never suspends: a store step reading it stays atomic
        return MemoryPrivateStore(lambda: host.clock(), engine.room_info, host.emit_now)

    def redis(core: RedisCore) -> PrivateStore:
        from liveroom.features.private.store_redis import RedisPrivateStore

        return RedisPrivateStore(core)

    return engine.store(memory=memory, redis=redis)


class PrivateTrafficFeature(Feature):
    """Plugs private traffic into a node; ``traffic`` is the node's ``FollowGraph``."""

    name = "private"
    error_codes = (PrivateCode,)
    #: a room's settings changed: it may have gone live, so its bookings are announced
    watched_events: ClassVar[frozenset[bytes]] = frozenset({b"room"})

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.settings = PrivateSettings.of(ctx.settings)
        self.traffic = PrivateTraffic(
            private_store(ctx.engine),
            ctx.engine,
            lambda: ctx.rooms,
            lambda: ctx.analytics,
            self.settings,
        )
        self._sweeper: asyncio.Task[None] | None = None
        #: room -> (trusted until, monotonic; the host's scope; whether a round exists)
        self._seen: dict[str, tuple[float, str | None, bool]] = {}

    async def open(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="liveroom-booking-sweeper")

    async def close(self) -> None:
        await stop([self._sweeper])
        await self.traffic.shutdown()

    async def _sweep_loop(self) -> None:
        """Every node sweeps: a room that went live while no node relayed its settings, or
        whose announcing node died half-way, is announced here."""
        while True:
            await asyncio.sleep(self.settings.sweep_interval_s)
            try:
                await self.traffic.sweep()
            except EngineUnavailable:
                pass
            except Exception:
                log.exception("booking sweep failed")

    def commands(self) -> Mapping[type[Command], Handler]:
        return {Follow: self.handle_follow, Unfollow: self.handle_unfollow, Book: self.handle_book}

    def routes(self) -> list[BaseRoute]:
        return PrivateRoutes(self.traffic).routes()

    async def snapshot(self, room: str) -> dict[str, Any]:
        """The host's follower count and the room's booking round (null: none scheduled)."""
        scope = host_scope(room, (await self.ctx.rooms.info(room)).get("host"))
        followers = await self.traffic.store.followers(scope) if scope is not None else 0
        booking = await self.traffic.booking(room)
        self._seen[room] = (time.monotonic() + VIEW_CACHE_S, scope, booking is not None)
        if len(self._seen) > VIEW_CACHE_ROOMS:
            self._seen = {room: self._seen[room]}
        return {"followers": followers, "booking": booking}

    async def joined(self, session: Session) -> None:
        """Tell a signed-in viewer that it follows the host or has booked the room (nothing
        when neither: a client starts from "not following, not booked").

        The joining viewer's snapshot has just been built (or shared), and with it this node's
        view of the room's host and round: a join costs one read, two while a round exists.
        """
        if session.who.anonymous:
            return
        room, user = session.room.id, session.who.user
        seen = self._seen.get(room)
        if seen is None or seen[0] < time.monotonic():
            scope = host_scope(room, (await self.ctx.rooms.info(room)).get("host"))
            rounds = True
        else:
            _, scope, rounds = seen
        following = scope is not None and await self.traffic.store.follows(scope, user)
        booked = rounds and await self.traffic.store.booked(room, user)
        if following or booked:  # most joins are neither: no frame, no send
            session.viewer.send(frame([event("private_mine", following=following, booked=booked)]))

    async def order_paid(self, room: str, user: str, order: dict[str, Any]) -> None:
        await self.traffic.order_paid(room, user, order)

    def relayed(self, room: str, kind: bytes, payload: bytes) -> None:
        self.traffic.room_changed(room)

    # ------------------------------------------------------------------ handlers

    async def handle_follow(self, session: Session, command: Follow) -> dict[str, Any]:
        return await self.traffic.follow(session.room.id, session.who)

    async def handle_unfollow(self, session: Session, command: Unfollow) -> dict[str, Any]:
        return await self.traffic.unfollow(session.room.id, session.who)

    async def handle_book(self, session: Session, command: Book) -> dict[str, Any]:
        return await self.traffic.book(session.room.id, session.who)
