"""The feature contract. Each feature is a package under ``liveroom.features``; the composition
root (``liveroom.app``) lists the ones a node runs, explicitly, and builds each with a
``NodeContext``. Nothing registers itself by being imported.

A feature declares what it brings (its WebSocket commands and their handlers, its HTTP routes,
the event types that must reach viewers at once, its error codes) and fills in the hooks it
needs. It talks to shared state through the core engine or its own store, and to other features
only through the seams of ``liveroom.context``.
"""

from __future__ import annotations

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


class Feature:
    """What a feature declares, and hooks it may fill in; every default does nothing."""

    name: ClassVar[str] = "feature"
    #: room event types (their ``type`` as bytes) flushed to viewers at once, not at the tick
    critical_events: ClassVar[frozenset[bytes]] = frozenset()
    #: the error code enums this feature answers with (documented in docs/protocol.md)
    error_codes: ClassVar[tuple[type[Enum], ...]] = ()

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

    async def commented(self, room: str, who: Identity, text: str) -> None:
        """A comment by ``who`` was accepted (keyword joins hang off this)."""


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
