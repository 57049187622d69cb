"""Rooms: each room's settings, and the snapshot a viewer gets when it joins.

- ``directory.py``: ``Directory``, the node's ``RoomDirectory`` and ``RoomSnapshots``
  (``liveroom.context``): settings kept by the core engine (``room_info``), changes published
  as ``room`` events, and the join snapshot, one engine read shared by the joins of a tick,
  with every feature's ``snapshot`` part merged in.
- ``store.py``: ``SettingsStore``, what of the engine the feature uses, and why it has no store
  of its own.
- ``rules.py``: the fields a backend may set (``validate_room``) and what viewers see of them
  (``public_info``).
- ``routes.py``: ``GET``, ``PUT`` and ``PATCH /api/rooms/{room}``.

Settings (``liveroom.config.Settings``, ``LIVEROOM_*``): ``allow_anonymous`` and
``room_comment_cap`` (a room's defaults), ``snapshot_comments`` (comments in a snapshot) and
``tick_ms`` (how long joins share a snapshot).
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from liveroom.context import NodeContext
from liveroom.features import Feature
from liveroom.features.rooms import routes
from liveroom.features.rooms.directory import Directory


class Rooms(Feature):
    """Room settings and join snapshots for the node; ``directory`` is its ``ctx.rooms``."""

    name = "rooms"

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.directory = Directory(ctx.engine, ctx.settings, ctx.now)

    def routes(self) -> list[BaseRoute]:
        return routes.routes(self.directory)
