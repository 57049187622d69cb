"""What comments need of shared state, all of it from the core engine (``Engine`` satisfies
``CommentStore``; mypy checks it where ``Comments`` builds its ``Chat``).

A comment is checked (mute, the user's rate, the room's cap) and published in one atomic step,
with the room's offsets and history (``post_comment``: ``liveroom/engine/lua/publish.lua`` on
Redis). That step needs the mutes, so posting and mutes stay in the engine's ``RoomBus`` and
``RoomStore`` rather than in a store of the feature's own.
"""

from __future__ import annotations

from typing import Protocol

from liveroom.engine.base import CommentRules, PostResult


class CommentStore(Protocol):
    async def post_comment(
        self, room: str, user: str, body: bytes, rules: CommentRules, text_key: str = ""
    ) -> PostResult: ...

    async def publish(self, room: str, body: bytes) -> bytes: ...

    async def mute(self, room: str, user: str, until: float) -> None: ...

    async def unmute(self, room: str, user: str) -> None: ...

    async def muted(self, room: str) -> dict[str, float]: ...

    async def incr(self, room: str, name: str, by: int = 1) -> int: ...
