"""The comments' HTTP API: system messages and mutes (``docs/http.md``)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from liveroom.auth import Identity
from liveroom.context import NodeContext
from liveroom.errors import CommandError, ErrorCode
from liveroom.features.comments.chat import Chat
from liveroom.http import endpoint, read_json
from liveroom.protocol import USER_ID, ident_field, int_field, text_field


def routes(chat: Chat) -> list[BaseRoute]:
    """The routes, each answering through ``chat``."""

    @endpoint(role="host")
    async def post_system(request: Request, node: NodeContext, who: Identity) -> Any:
        """Post a system message to the room.
        ---
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                required: [text]
                properties: {text: {type: string}}
        responses:
          "200":
            description: the message's offset in the room's history
            content:
              application/json:
                schema: {type: object, required: [offset], properties: {offset: {type: integer}}}
        """
        room = request.path_params["room"]
        body = await read_json(request)
        offset = await chat.system(room, text_field(body, "text"), who)
        return {"offset": offset}

    @endpoint(role="host")
    async def post_mute(request: Request, node: NodeContext, who: Identity) -> Any:
        """Mute a user in the room for some seconds (600 unless given).
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
            description: who is muted, and until when (Unix seconds)
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
        seconds = int_field(body.get("seconds", 600), "seconds", 1, 30 * 86400)
        until = await chat.mute(room, user, seconds)
        return {"user": user, "until": until}

    @endpoint(role="host")
    async def delete_mute(request: Request, node: NodeContext, who: Identity) -> Any:
        """Lift a user's mute in the room.
        ---
        responses:
          "200":
            description: the user whose mute was lifted
            content:
              application/json:
                schema: {type: object, required: [user], properties: {user: {type: string}}}
        """
        room = request.path_params["room"]
        user = request.path_params["user"]
        if not USER_ID.fullmatch(user):
            raise CommandError(ErrorCode.BAD_REQUEST, "user id malformed")
        await chat.unmute(room, user)
        return {"user": user}

    @endpoint(role="host")
    async def get_mutes(request: Request, node: NodeContext, who: Identity) -> Any:
        """The room's muted users.
        ---
        responses:
          "200":
            description: muted users and their mute ends
            content:
              application/json:
                schema: {type: object, required: [muted], properties: {muted: {}}}
        """
        return {"muted": await chat.muted(request.path_params["room"])}

    return [
        Route("/api/rooms/{room}/system", post_system, methods=["POST"]),
        Route("/api/rooms/{room}/mutes", post_mute, methods=["POST"]),
        Route("/api/rooms/{room}/mutes", get_mutes, methods=["GET"]),
        Route("/api/rooms/{room}/mutes/{user}", delete_mute, methods=["DELETE"]),
    ]
