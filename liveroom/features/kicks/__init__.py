"""Kicks: a host puts a user out of a room for a while.

- ``commands.py``: the WebSocket commands ``kick`` (``user``, ``seconds``) and ``unkick``
  (host or admin); their handlers are this feature's ``handle_*`` methods.
- ``service.py``: ``Kicks``: store the kick, tell every connection of the user on every node
  (``kicked``, then close 4031), and answer the handshake's question (``kicked_until``, the
  ``RoomKicks`` seam of ``liveroom.connection.seams``), asked on every join and resume.
- ``store.py``: the ``KickStore`` contract; ``store_memory.py``; ``store_redis.py`` with
  ``lua/kick.lua``.
- ``routes.py``: ``POST``/``GET /api/rooms/{room}/kicks``, ``DELETE
  /api/rooms/{room}/kicks/{user}``.

Anonymous viewers have no lasting id, so they cannot be kicked; a room that must keep someone
out should not allow anonymous viewers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from starlette.routing import BaseRoute

from liveroom.context import NodeContext
from liveroom.errors import CloseCode
from liveroom.features import Feature, Handler
from liveroom.features.kicks import routes
from liveroom.features.kicks.commands import KickUser, UnkickUser
from liveroom.features.kicks.service import Kicks
from liveroom.features.kicks.store import KickStore
from liveroom.protocol import Command

if TYPE_CHECKING:
    from liveroom.connection.session import Session
    from liveroom.engine.base import Engine, MemoryHost
    from liveroom.engine.redis_core import RedisCore

__all__ = ["Kicks", "KicksFeature", "kick_store"]


def kick_store(engine: Engine) -> KickStore:
    """The kick store for ``engine``: in its memory, or in its Redis. Each call builds a new
    store (the memory one empty), so a node builds one, in its ``KicksFeature``."""

    def memory(host: MemoryHost) -> KickStore:
        from liveroom.features.kicks.store_memory import MemoryKicks

        return MemoryKicks(host.clock)

    def redis(core: RedisCore) -> KickStore:
        from liveroom.features.kicks.store_redis import RedisKicks

        return RedisKicks(core)

    return engine.store(memory=memory, redis=redis)


class KicksFeature(Feature):
    """Plugs kicks into a node; ``kicks`` is what the handshake checks every join against."""

    name = "kicks"
    #: the ``kicked`` notice ends every connection it reaches, with 4031
    closing_events: ClassVar[Mapping[bytes, int]] = {b"kicked": CloseCode.KICKED}

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.kicks = Kicks(kick_store(ctx.engine), ctx.engine, ctx.now)

    def commands(self) -> Mapping[type[Command], Handler]:
        return {KickUser: self.handle_kick, UnkickUser: self.handle_unkick}

    def routes(self) -> list[BaseRoute]:
        return routes.routes(self.kicks)

    async def handle_kick(self, session: Session, command: KickUser) -> dict[str, Any]:
        until = await self.kicks.kick(session.room.id, command.user, command.seconds)
        return {"until": until}

    async def handle_unkick(self, session: Session, command: UnkickUser) -> dict[str, Any]:
        await self.kicks.unkick(session.room.id, command.user)
        return {}
