"""The HTTP API for the shop's backend and the host console.

Auth: ``Authorization: Bearer <credential>``, where the credential is either the backend's API
key (every room, every action) or a host/admin token for the room in the path. Viewer tokens
may call only the endpoints marked ``viewer``. Errors are JSON: ``{"error": {code, message,
retry}}`` with the HTTP status of the code.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from liveroom import auth, metrics
from liveroom.auth import Identity
from liveroom.errors import (
    AuthError,
    CommandError,
    EngineUnavailable,
    ErrorCode,
)
from liveroom.protocol import OBJECT_ID, ROOM_ID, USER_ID, ident_field, int_field, text_field

if TYPE_CHECKING:
    from liveroom.app import Node

log = logging.getLogger("liveroom.api")

MAX_BODY = 64 * 1024
BACKEND = Identity(user="backend", name="backend", role="admin", rooms=("*",))

Endpoint = Callable[[Request, "Node", Identity], Awaitable[Any]]


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def error_response(exc: CommandError) -> Response:
    return json_response({"error": exc.as_dict()}, exc.code.status)


def caller(request: Request, node: Node, room: str | None) -> Identity:
    """Who is calling: the backend (API key) or a token holder valid for ``room``."""
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential:
        raise CommandError(ErrorCode.UNAUTHORIZED, "send Authorization: Bearer <api key or token>")
    if auth.api_key_ok(node.settings.api_key, credential):
        return BACKEND
    try:
        return auth.verify(node.settings.secret, credential, room)
    except AuthError as exc:
        code = (
            ErrorCode.FORBIDDEN if exc.error_code is ErrorCode.FORBIDDEN else ErrorCode.UNAUTHORIZED
        )
        raise CommandError(code, exc.message) from None


def endpoint(role: str = "host", backend_only: bool = False) -> Callable[[Endpoint], Any]:
    """Wrap a handler: room id check, caller and role check, JSON errors, ``unavailable``."""

    def wrap(fn: Endpoint) -> Any:
        @functools.wraps(fn)
        async def run(request: Request) -> Response:
            node: Node = request.app.state.node
            try:
                room = request.path_params.get("room")
                if room is not None and not ROOM_ID.match(room):
                    raise CommandError(ErrorCode.BAD_REQUEST, "room id malformed")
                who = caller(request, node, room)
                if backend_only and who is not BACKEND:
                    raise CommandError(
                        ErrorCode.FORBIDDEN, "this endpoint takes the backend API key"
                    )
                if who.anonymous or not who.may(role):
                    raise CommandError(ErrorCode.FORBIDDEN, f"this endpoint needs the {role} role")
                result = await fn(request, node, who)
            except CommandError as exc:
                metrics.COMMAND_ERRORS.labels(exc.code.value).inc()
                if exc.code in (ErrorCode.UNAUTHORIZED, ErrorCode.FORBIDDEN):
                    log.info("refused: %s", exc.message, extra={"code": exc.code.value})
                return error_response(exc)
            except EngineUnavailable:
                return error_response(
                    CommandError(ErrorCode.UNAVAILABLE, "shared state unreachable")
                )
            if isinstance(result, Response):
                return result
            return json_response(result)

        # read by liveroom.openapi (security, x-liveroom-role) and the route audit test
        run.liveroom_role = role  # type: ignore[attr-defined]
        run.liveroom_backend_only = backend_only  # type: ignore[attr-defined]
        return run

    return wrap


def path_id(request: Request, name: str, what: str) -> str:
    """A path parameter naming a sale, bag, packet, card or order; ``bad_request`` if malformed."""
    value = str(request.path_params[name])
    if not OBJECT_ID.match(value):
        raise CommandError(ErrorCode.BAD_REQUEST, f"{what} malformed")
    return value


def acting_for(who: Identity, body: dict[str, Any], room: str) -> Identity:
    """Who a viewer action over HTTP is for: the token's holder, or, for the backend (API
    key), the ``user`` (and optional display ``name``) its body names."""
    if who is not BACKEND:
        return who
    user = ident_field(body.get("user"), "user", USER_ID)
    name = body.get("name", user)
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        raise CommandError(ErrorCode.BAD_REQUEST, "name is 1 to 64 characters")
    return Identity(user=user, name=name, role="viewer", rooms=(room,))


async def read_json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise CommandError(ErrorCode.TOO_LONG, "request body too large")
    if not body:
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise CommandError(ErrorCode.BAD_JSON, "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise CommandError(ErrorCode.BAD_REQUEST, "body must be a JSON object")
    return data


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
