"""Domain features. Each talks to the Engine and the protocol only, never to Starlette or Redis.

A feature module that defines ``setup(node) -> Feature`` is found and set up by the ``Node`` at
start. Its WebSocket commands register themselves at import (``protocol.register`` and
``Session.handles``), so adding a feature means adding a module here and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from liveroom.auth import Identity
    from liveroom.connection.session import Session


class Feature:
    """Hooks a feature may fill in; every default does nothing."""

    name = "feature"

    async def open(self) -> None:
        """Start background work (sweepers, timers). Runs after the engine is open."""

    async def close(self) -> None:
        """Stop background work. Runs before the engine closes."""

    def routes(self) -> list[BaseRoute]:
        """HTTP routes, mounted at the app's root (use ``/api/...`` paths)."""
        return []

    async def snapshot(self, room: str) -> dict[str, Any]:
        """Fields merged into every viewer's snapshot of ``room`` (shared by all viewers)."""
        return {}

    async def joined(self, session: Session) -> None:
        """A viewer has its snapshot: send it what is private to it (``session.viewer.send``)."""

    async def commented(self, room: str, who: Identity, text: str) -> None:
        """A comment by ``who`` was accepted (keyword joins hang off this)."""


F = TypeVar("F", bound=Feature)


def find(node: Any, kind: type[F]) -> F:
    """The node's feature of class ``kind`` (its commands and routes reach it this way)."""
    for feature in node.features:
        if isinstance(feature, kind):
            return feature
    raise LookupError(f"the {kind.__name__} feature is not set up on this node")


def discover() -> list[Any]:
    """Every ``liveroom.features`` module that has a ``setup(node)`` function."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if callable(getattr(module, "setup", None)):
            found.append(module)
    return found
