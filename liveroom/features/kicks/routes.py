"""The kicks' HTTP API, for the shop's backend (``docs/http.md``)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from liveroom.auth import Identity
from liveroom.context import NodeContext
from liveroom.errors import CommandError, ErrorCode
from liveroom.features.kicks.commands import kick_seconds
from liveroom.features.kicks.service import Kicks
from liveroom.http import endpoint, read_json
from liveroom.protocol import USER_ID, ident_field


def routes(kicks: Kicks) -> list[BaseRoute]:
    """The routes, each answering through ``kicks``."""

    @endpoint(role="host")
    async def post_kick(request: Request, node: NodeContext, who: Identity) -> Any:
        """Kick a user out of the room for some seconds (600 unless given): every connection
        of theirs in the room is closed with 4031, and they cannot join again until it ends.
        ---
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                required: [user]
                properties:
                  user: {type: string, pattern: "^[A-Za-z0-9_.:@-]{1,64}$"}
                  seconds: {type: integer, minimum: 1, maximum: 2592000}
        responses:
          "200":
            description: who is kicked, and until when (Unix seconds)
            content:
              application/json:
                schema:
                  type: object
                  required: [user, until]
                  properties: {user: {type: string}, until: {type: number}}
        """
        room = request.path_params["room"]
        body = await read_json(request)
        user = ident_field(body.get("user"), "user", USER_ID)
        until = await kicks.kick(room, user, kick_seconds(body))
        return {"user": user, "until": until}

    @endpoint(role="host")
    async def delete_kick(request: Request, node: NodeContext, who: Identity) -> Any:
        """End a user's kick: they may join the room again at once.
        ---
        responses:
          "200":
            description: the user let back in
            content:
              application/json:
                schema: {type: object, required: [user], properties: {user: {type: string}}}
        """
        room = request.path_params["room"]
        user = request.path_params["user"]
        if not USER_ID.fullmatch(user):
            raise CommandError(ErrorCode.BAD_REQUEST, "user id malformed")
        await kicks.unkick(room, user)
        return {"user": user}

    @endpoint(role="host")
    async def get_kicks(request: Request, node: NodeContext, who: Identity) -> Any:
        """The room's kicked users.
        ---
        responses:
          "200":
            description: kicked users and when each kick ends (Unix seconds)
            content:
              application/json:
                schema: {type: object, required: [kicked], properties: {kicked: {}}}
        """
        return {"kicked": await kicks.kicked(request.path_params["room"])}

    return [
        Route("/api/rooms/{room}/kicks", post_kick, methods=["POST"]),
        Route("/api/rooms/{room}/kicks", get_kicks, methods=["GET"]),
        Route("/api/rooms/{room}/kicks/{user}", delete_kick, methods=["DELETE"]),
    ]
