"""The core HTTP API: rooms, system messages, mutes, stats and tokens (``liveroom.http`` has
the auth and error handling every route shares)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import Route

from liveroom import auth
from liveroom.auth import Identity
from liveroom.errors import CommandError, ErrorCode
from liveroom.http import endpoint, read_json
from liveroom.protocol import ROOM_ID, USER_ID, ident_field, int_field, text_field

if TYPE_CHECKING:
    from liveroom.app import Node

# ---------------------------------------------------------------------- rooms


@endpoint(role="viewer")
async def get_room(request: Request, node: Node, who: Identity) -> Any:
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
    from liveroom.features.rooms import public_info

    info = await node.rooms.info(room)
    return {"room": info if who.may("host") else public_info(info)}


@endpoint(role="host")
async def put_room(request: Request, node: Node, who: Identity) -> Any:
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
    info = await node.rooms.update(room, await read_json(request))
    return {"room": info}


@endpoint(role="host")
async def post_system(request: Request, node: Node, who: Identity) -> Any:
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
    offset = await node.comments.system(room, text_field(body, "text"), who)
    return {"offset": offset}


@endpoint(role="host")
async def post_mute(request: Request, node: Node, who: Identity) -> Any:
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
    until = await node.comments.mute(room, user, seconds)
    return {"user": user, "until": until}


@endpoint(role="host")
async def delete_mute(request: Request, node: Node, who: Identity) -> Any:
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
    if not USER_ID.match(user):
        raise CommandError(ErrorCode.BAD_REQUEST, "user id malformed")
    await node.comments.unmute(room, user)
    return {"user": user}


@endpoint(role="host")
async def get_mutes(request: Request, node: Node, who: Identity) -> Any:
    """The room's muted users.
    ---
    responses:
      "200":
        description: muted users and their mute ends
        content:
          application/json:
            schema: {type: object, required: [muted], properties: {muted: {}}}
    """
    return {"muted": await node.engine.muted(request.path_params["room"])}


@endpoint(role="host")
async def get_stats(request: Request, node: Node, who: Identity) -> Any:
    """The room's numbers: online, peak, likes, comments, unique viewers, counters.
    ---
    responses:
      "200":
        description: the room's counters
        content:
          application/json:
            schema:
              type: object
              required: [room, offset, online]
              properties:
                room: {type: string}
                offset: {type: integer}
                online: {type: integer}
                counters: {type: object}
    """
    room = request.path_params["room"]
    return await node.stats.room(room)


@endpoint(role="admin", backend_only=True)
async def post_token(request: Request, node: Node, who: Identity) -> Any:
    """Mint a token: for backends that prefer not to sign JWTs themselves.
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
              name: {type: string, minLength: 1, maxLength: 64}
              role: {enum: [viewer, host, admin]}
              room: {type: string, description: "a room id, or * for every room"}
              ttl: {type: integer, minimum: 1, maximum: 2592000}
    responses:
      "200":
        description: the signed token and when it expires (Unix seconds)
        content:
          application/json:
            schema:
              type: object
              required: [token, expires]
              properties: {token: {type: string}, expires: {type: number}}
    """
    body = await read_json(request)
    user = ident_field(body.get("user"), "user", USER_ID)
    role = body.get("role", "viewer")
    if role not in ("viewer", "host", "admin"):
        raise CommandError(ErrorCode.BAD_REQUEST, "role is viewer, host or admin")
    room = body.get("room", "*")
    if not isinstance(room, str) or (room != "*" and not ROOM_ID.match(room)):
        raise CommandError(ErrorCode.BAD_REQUEST, "room malformed")
    ttl = int_field(body.get("ttl", 3600), "ttl", 1, 30 * 86400)
    name = body.get("name", user)
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        raise CommandError(ErrorCode.BAD_REQUEST, "name is 1 to 64 characters")
    token = auth.mint(node.settings.secret, user, name=name, room=room, role=role, ttl_s=ttl)
    return {"token": token, "expires": time.time() + ttl}


def routes() -> list[Route]:
    return [
        Route("/api/rooms/{room}", get_room, methods=["GET"]),
        Route("/api/rooms/{room}", put_room, methods=["PUT", "PATCH"]),
        Route("/api/rooms/{room}/system", post_system, methods=["POST"]),
        Route("/api/rooms/{room}/mutes", post_mute, methods=["POST"]),
        Route("/api/rooms/{room}/mutes", get_mutes, methods=["GET"]),
        Route("/api/rooms/{room}/mutes/{user}", delete_mute, methods=["DELETE"]),
        Route("/api/rooms/{room}/stats", get_stats, methods=["GET"]),
        Route("/api/tokens", post_token, methods=["POST"]),
    ]
