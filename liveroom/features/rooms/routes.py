"""The rooms' HTTP API: a room's settings (``docs/http.md``)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from liveroom.auth import Identity
from liveroom.context import NodeContext
from liveroom.features.rooms.directory import Directory
from liveroom.features.rooms.rules import public_info
from liveroom.http import endpoint, read_json


def routes(directory: Directory) -> list[BaseRoute]:
    """The routes, each answering through ``directory``."""

    @endpoint(role="viewer")
    async def get_room(request: Request, node: NodeContext, who: Identity) -> Any:
        """A room's settings; viewers do not see its sensitive-word list.
        ---
        responses:
          "200":
            description: the room
            content:
              application/json:
                schema: {type: object, required: [room], properties: {room: {type: object}}}
        """
        room = request.path_params["room"]
        info = await directory.info(room)
        return {"room": info if who.may("host") else public_info(info)}

    @endpoint(role="host")
    async def put_room(request: Request, node: NodeContext, who: Identity) -> Any:
        """Change a room's settings (only the fields sent); viewers get a ``room`` event.
        ---
        requestBody:
          content:
            application/json:
              schema:
                type: object
                additionalProperties: false
                properties:
                  title: {type: string, maxLength: 500}
                  host_name: {type: string, maxLength: 500}
                  cover: {type: string, maxLength: 500}
                  allow_anonymous: {type: boolean}
                  sensitive_words:
                    type: array
                    maxItems: 1000
                    items: {type: string, minLength: 1, maxLength: 50}
                  sensitive_mode: {enum: [mask, self]}
                  comment_cap: {type: integer, minimum: 0, maximum: 100000}
                  ended: {type: boolean}
        responses:
          "200":
            description: the room's settings after the change
            content:
              application/json:
                schema: {type: object, required: [room], properties: {room: {type: object}}}
        """
        room = request.path_params["room"]
        info = await directory.update(room, await read_json(request))
        return {"room": info}

    return [
        Route("/api/rooms/{room}", get_room, methods=["GET"]),
        Route("/api/rooms/{room}", put_room, methods=["PUT", "PATCH"]),
    ]
