"""The stats' HTTP API: a room's numbers (``docs/http.md``)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from liveroom.auth import Identity
from liveroom.context import NodeContext
from liveroom.features.stats.numbers import Numbers
from liveroom.http import endpoint


def routes(numbers: Numbers) -> list[BaseRoute]:
    """The routes, each answering through ``numbers``."""

    @endpoint(role="host")
    async def get_stats(request: Request, node: NodeContext, who: Identity) -> Any:
        """The room's numbers: online, peak, likes, comments, unique viewers, counters.
        ---
        responses:
          "200":
            description: the room's counters
            content:
              application/json:
                schema:
                  type: object
                  required: [room, offset, online, peak]
                  properties:
                    room: {type: string}
                    offset: {type: integer}
                    online: {type: integer}
                    peak: {type: integer, description: the most viewers online at once}
                    peak_online:
                      type: integer
                      deprecated: true
                      description: the old name of peak, kept as an alias
                    likes: {type: integer}
                    comments: {type: integer}
                    shed: {type: integer}
                    unique_viewers: {type: integer}
                    counters: {type: object}
        """
        return await numbers.room(request.path_params["room"])

    return [Route("/api/rooms/{room}/stats", get_stats, methods=["GET"])]
