"""The feature contract. Each feature is a package under ``liveroom.features``; the composition
root (``liveroom.app``) lists the ones a node runs, explicitly, and builds each with a
``NodeContext``. Nothing registers itself by being imported.

A feature declares what it brings (its WebSocket commands and their handlers, its HTTP routes,
the event types that must reach viewers at once, its error codes) and fills in the hooks it
needs. It talks to shared state through the core engine or its own store, and to other features
only through the seams of ``liveroom.context``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

from starlette.routing import BaseRoute

from liveroom.connection.session import Handler
from liveroom.protocol import Command

if TYPE_CHECKING:
    from liveroom.auth import Identity
    from liveroom.connection.session import Session
    from liveroom.context import NodeContext

#: a keyword feature's open keywords of one room, as it holds them (``Feature.held_keywords``):
#: good until (on the monotonic clock), the keywords, and the node's local room they were read
#: under (None: there was none) with its ``jumps`` then (``Feature.stream_mark``)
Held = tuple[float, frozenset[str], Any, int]

#: event-loop turns ``Feature.caught_up`` waits for the node to relay the events before an offset
CATCH_UP_TURNS = 4


class Feature:
    """What a feature declares, and hooks it may fill in; every default does nothing."""

    name: ClassVar[str] = "feature"
    #: room event types (their ``type`` as bytes) flushed to viewers at once, not at the tick
    critical_events: ClassVar[frozenset[bytes]] = frozenset()
    #: private event types (sent to a user through ``RoomBus.notify``) after which the hub
    #: closes each connection the event reached, with the close code given (a kick: 4031)
    closing_events: ClassVar[Mapping[bytes, int]] = {}
    #: the error code enums this feature answers with (documented in docs/protocol.md)
    error_codes: ClassVar[tuple[type[Enum], ...]] = ()
    #: room event types (their ``type`` as bytes) this feature sees as the node relays them
    #: (``relayed``)
    watched_events: ClassVar[frozenset[bytes]] = frozenset()
    #: a keyword feature's longest keyword, in characters: the node asks its ``heard`` only
    #: about comments that short (stripped, not blank). None: about every comment
    keyword_max: ClassVar[int | None] = None
    #: a keyword feature's open keywords of each room as it holds them (``keywords.Held``): the
    #: node's ``KeywordGate`` asks ``heard`` only when they cannot rule a comment out. None:
    #: ``heard`` is asked about every comment short enough. Set once, when the feature is
    #: built: the gate keeps this mapping, so it is changed in place, never replaced
    held_keywords: Mapping[str, Held] | None = None

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    def commands(self) -> Mapping[type[Command], Handler]:
        """The WebSocket commands this feature answers, each with its handler."""
        return {}

    def routes(self) -> list[BaseRoute]:
        """HTTP routes, mounted at the app's root (use ``/api/...`` paths)."""
        return []

    async def open(self) -> None:
        """Start background work (sweepers, timers). Runs after the engine is open."""

    async def close(self) -> None:
        """Stop background work. Runs before the engine closes."""

    async def snapshot(self, room: str) -> dict[str, Any]:
        """Fields merged into every viewer's snapshot of ``room`` (shared by all viewers)."""
        return {}

    async def joined(self, session: Session) -> None:
        """A viewer has its snapshot: send it what is private to it (``session.viewer.send``)."""

    def left(self, session: Session) -> None:
        """A viewer's connection is gone (closed, dropped or evicted), once per ``joined``.
        Synchronous: runs as the connection finishes."""

    def heard(self, room: str, who: Identity, text: str, after: int | None) -> bool:
        """A comment by ``who`` was accepted: the synchronous part of the comment hook, run
        for every comment of the node's rooms (of 1 to ``keyword_max`` characters, if set, and
        only when ``held_keywords`` cannot rule it out). ``text`` comes stripped. Returns
        whether ``commented``, the awaited part, must run for it too. The default says yes; a
        feature that can tell from what it holds that the comment means nothing to it (no
        keyword of it open in the room, for most comments) says no, and spares the comment a
        coroutine."""
        return True

    async def commented(
        self, room: str, who: Identity, text: str, after: int | None = None
    ) -> None:
        """A comment by ``who`` was accepted and ``heard`` asked for it (keyword joins hang off
        this). ``after`` is the room offset it follows in the room's order (None: not known)."""

    async def order_paid(self, room: str, user: str, order: dict[str, Any]) -> None:
        """An order of ``user`` was confirmed paid (``NodeContext.order_paid``); may come
        again for the same order."""

    def relayed(self, room: str, kind: bytes, payload: bytes) -> None:
        """This node took a room event of a ``watched_events`` type into ``room``, in offset
        order, before its viewers get it. Runs in the node's event intake: bookkeeping only,
        no awaiting."""

    async def caught_up(self, room: str, offset: int) -> bool:
        """Whether this node has taken every event of ``room`` up to ``offset`` in (so each
        ``relayed`` call for them has run). The events before a comment usually arrive a loop
        turn or two after the comment's own answer (they come on the subscription's
        connection): this waits up to ``CATCH_UP_TURNS`` turns for them, then answers False
        and the caller reads the shared state instead."""
        for turn in range(CATCH_UP_TURNS + 1):
            if self.caught_up_now(room, offset):
                return True
            if turn < CATCH_UP_TURNS:
                await asyncio.sleep(0)  # a loop turn, for the subscription's reader
        return False

    def stream_mark(self, room: str) -> tuple[object, int] | None:
        """Where this node's relay of ``room`` stands as a whole: its local room (None: none)
        and how often that room jumped ahead without relaying what it skipped (a gap history
        could not fill, a new epoch). What a feature keeps up to date from ``relayed`` events
        is good only while the mark stays the same."""
        local = self.ctx.hub.rooms.get(room)
        return None if local is None else (local, local.jumps)

    def unmoved(self, room: str, mark: tuple[object, int] | None, after: int | None) -> bool:
        """Whether what was kept under ``mark`` (``stream_mark`` when it was read) still serves a
        comment that follows offset ``after``: the stream mark is the same, and every event of
        the room up to ``after`` is in (``caught_up_now``; no ``after``, no such check). Without a
        local room, only a mark read without one serves, and only with no ``after``. One look at
        the room for both questions (``unmoved_at``, which the node's keyword gate asks for each
        keyword feature of a short comment)."""
        local = self.ctx.hub.rooms.get(room)
        if mark is None:
            return local is None and after is None
        return unmoved_at(local, mark[0], mark[1], after)

    def caught_up_now(self, room: str, offset: int) -> bool:
        """``caught_up`` without waiting: whether every event of ``room`` up to ``offset`` is in
        already."""
        local = self.ctx.hub.rooms.get(room)
        return local is not None and local.last_offset is not None and local.last_offset >= offset


def unmoved_at(local: Any, marked: Any, jumps: int, after: int | None) -> bool:
    """``Feature.unmoved`` given the node's ``local`` room (``hub.rooms``; None: none) and the
    mark's local room (``marked``, None: none) and ``jumps``, for a caller that looks up the
    room once for several marks (``keywords.KeywordGate``)."""
    if marked is not local:
        return False
    if local is None:
        return after is None
    return jumps == local.jumps and (
        after is None or (local.last_offset is not None and local.last_offset >= after)
    )


class Dispatch:
    """A node's command table, built once from its features: the command classes ``decode``
    knows by type name, and the handler of each. Two features claiming one type is an error at
    start, not a silent override."""

    def __init__(self, core: Mapping[type[Command], Handler], features: list[Feature]) -> None:
        self.handlers: dict[type[Command], Handler] = dict(core)
        for feature in features:
            for command, handler in feature.commands().items():
                if command in self.handlers or any(
                    known.type == command.type for known in self.handlers
                ):
                    raise ValueError(f"two handlers for the {command.type!r} command")
                self.handlers[command] = handler
        self.commands: dict[str, type[Command]] = {c.type: c for c in self.handlers}
