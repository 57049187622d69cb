"""Stats: a room's numbers for the host console and the backend.

- ``numbers.py``: ``Numbers``, the node's ``ViewerJoins`` (``liveroom.context``), and the read
  of a room's counters, online and peak (the core engine's ``snapshot``) and unique viewers.
- ``store.py``: ``CounterStore``, what of the engine the feature uses.
- ``routes.py``: ``GET /api/rooms/{room}/stats``.

The counters are written where they happen, through the core engine: likes and the peak by the
hub's pulse, ``comments`` as the engine posts one, ``shed`` by the comments feature, funnels by
cards and flash sales.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from liveroom.context import NodeContext
from liveroom.features import Feature
from liveroom.features.stats import routes
from liveroom.features.stats.numbers import Numbers


class Stats(Feature):
    """Room numbers for the node; ``numbers`` is what the connection layer reports joins to."""

    name = "stats"

    def __init__(self, ctx: NodeContext) -> None:
        super().__init__(ctx)
        self.numbers = Numbers(ctx.engine)

    def routes(self) -> list[BaseRoute]:
        return routes.routes(self.numbers)
