"""Comments: viewers' comments and likes, the host's system messages and mutes.

- ``commands.py``: the WebSocket commands (``comment``, ``like``, ``system``, ``mute``,
  ``unmute``); their handlers are this feature's ``handle_*`` methods.
- ``chat.py``: the rules (length, dedupe, sensitive words) and the posting, through the core
  engine's ``post_comment``, which checks mutes, the user's rate and the room's cap atomically
  with the publish (``publish.lua`` on Redis). Mutes are kept by the engine too.
- ``store.py``: ``CommentStore``, what of the engine the feature uses, and why it has no store
  of its own.
- ``routes.py``: ``POST /api/rooms/{room}/system`` and the ``/mutes`` routes.
- ``errors.py``: ``CommentCode`` (``empty``, ``muted``, ``duplicate``).

Settings (``liveroom.config.Settings``, ``LIVEROOM_*``): ``comment_max_len``,
``user_comment_limit``, ``user_comment_window_s``, ``room_comment_cap`` (a room's
``comment_cap`` overrides it) and ``dedupe_window_s``.

Likes are not published one by one: a ``like`` adds to its room's count on this node, which the
hub's pulse sums over nodes into ``stats`` events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.routing import BaseRoute

from liveroom import metrics
from liveroom.context import NodeContext
from liveroom.features import Feature, Handler
from liveroom.features.comments import routes
from liveroom.features.comments.chat import Chat
from liveroom.features.comments.commands import (
    MuteUser,
    PostSystem,
    SendComment,
    SendLike,
    UnmuteUser,
)
from liveroom.features.comments.errors import CommentCode
from liveroom.protocol import Command, frame

if TYPE_CHECKING:
    from liveroom.connection.session import Session


class Comments(Feature):
    """Comments, likes, system messages and mutes of every room on the node."""

    name = "comments"
    error_codes = (CommentCode,)
    # none of its events is critical: comments and system messages go out at the next tick

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.chat = Chat(ctx.engine, ctx.settings, ctx.now)

    def commands(self) -> Mapping[type[Command], Handler]:
        return {
            SendComment: self.handle_comment,
            SendLike: self.handle_like,
            PostSystem: self.handle_system,
            MuteUser: self.handle_mute,
            UnmuteUser: self.handle_unmute,
        }

    def routes(self) -> list[BaseRoute]:
        return routes.routes(self.chat)

    async def handle_comment(self, session: Session, command: SendComment) -> dict[str, Any]:
        room = session.room
        result, echo, after = await self.chat.post(room.id, session.who, command.text, room.info)
        if echo is not None:
            session.viewer.send(frame([echo]))
            if "shed" in result:
                metrics.SHED.inc()
                await self.chat.count_shed(room.id)
        if after is not None:  # not hidden: in the room's order
            pending = self.ctx.comment_posted(room.id, session.who, command.text, after)
            if pending is not None:
                await pending
        return result

    async def handle_like(self, session: Session, command: SendLike) -> dict[str, Any]:
        session.room.likes += command.count
        self.ctx.analytics.liked(session.room.id, session.who.user, command.count)
        return {}

    async def handle_system(self, session: Session, command: PostSystem) -> dict[str, Any]:
        offset = await self.chat.system(session.room.id, command.text, session.who)
        return {"offset": offset}

    async def handle_mute(self, session: Session, command: MuteUser) -> dict[str, Any]:
        until = await self.chat.mute(session.room.id, command.user, command.seconds)
        return {"until": until}

    async def handle_unmute(self, session: Session, command: UnmuteUser) -> dict[str, Any]:
        await self.chat.unmute(session.room.id, command.user)
        return {}
