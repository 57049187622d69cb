"""The core's one HTTP route: ``POST /api/tokens`` mints a token for a backend that prefers not
to sign JWTs itself. The features' routes live in their packages; ``liveroom.http`` has the auth
and error handling every route shares."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from liveroom import auth
from liveroom.auth import Identity
from liveroom.context import NodeContext
from liveroom.errors import CommandError, ErrorCode
from liveroom.http import endpoint, read_json
from liveroom.protocol import ROOM_ID, USER_ID, ident_field, int_field


@endpoint(role="admin", backend_only=True)
async def post_token(request: Request, node: NodeContext, who: Identity) -> Any:
    """Mint a token: for backends that prefer not to sign JWTs themselves.
    ---
    tags: [tokens]
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
    if not isinstance(room, str) or (room != "*" and not ROOM_ID.fullmatch(room)):
        raise CommandError(ErrorCode.BAD_REQUEST, "room malformed")
    ttl = int_field(body.get("ttl", 3600), "ttl", 1, 30 * 86400)
    name = body.get("name", user)
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        raise CommandError(ErrorCode.BAD_REQUEST, "name is 1 to 64 characters")
    token = auth.mint(node.settings.secret, user, name=name, room=room, role=role, ttl_s=ttl)
    return {"token": token, "expires": time.time() + ttl}


def routes() -> list[BaseRoute]:
    return [Route("/api/tokens", post_token, methods=["POST"])]
