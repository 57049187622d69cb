"""Demo routes: a landing page and tokens for the demo room, so a newcomer can play at once.

On by default for ``liveroom serve``; switch off in production with ``LIVEROOM_DEMO=0``. Tokens
are only ever minted for ``Settings.demo_room``.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from liveroom import auth
from liveroom.api import json_response

if TYPE_CHECKING:
    from liveroom.app import Node

NAMES = ("小鹿", "阿狸", "橙子", "Momo", "豆豆", "Kiki", "团子", "Leo", "七七", "Nana")


async def home(request: Request) -> Response:
    """The demo's viewer page (a redirect). Only with ``LIVEROOM_DEMO=1``.
    ---
    responses:
      "307": {description: redirect to /demo/}
    """
    return RedirectResponse("/demo/", status_code=307)


async def demo_token(request: Request) -> Response:
    """A token for the demo room, as a viewer or the host. Only with ``LIVEROOM_DEMO=1``.
    ---
    parameters:
      - {name: role, in: query, schema: {enum: [viewer, host]}}
      - {name: name, in: query, schema: {type: string}}
    responses:
      "200":
        description: a 12-hour token for the demo room
        content:
          application/json:
            schema:
              type: object
              required: [token, room, user, name, role]
              properties:
                token: {type: string}
                room: {type: string}
                user: {type: string}
                name: {type: string}
                role: {type: string}
    """
    node: Node = request.app.state.node
    settings = node.settings
    role = request.query_params.get("role", "viewer")
    if role not in ("viewer", "host"):
        return json_response(
            {"error": {"code": "bad_request", "message": "role is viewer or host", "retry": False}},
            400,
        )
    name = request.query_params.get("name") or (
        "主播" if role == "host" else secrets.choice(NAMES) + str(secrets.randbelow(90) + 10)
    )
    user = ("host-" if role == "host" else "u-") + secrets.token_hex(4)
    token = auth.mint(
        settings.secret, user, name=name[:32], room=settings.demo_room, role=role, ttl_s=12 * 3600
    )
    body: dict[str, Any] = {
        "token": token,
        "room": settings.demo_room,
        "user": user,
        "name": name[:32],
        "role": role,
    }
    return json_response(body)


def routes() -> list[Route]:
    return [
        Route("/", home),
        Route("/demo/token", demo_token),
    ]
