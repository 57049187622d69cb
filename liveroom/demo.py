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
from liveroom.context import NodeContext
from liveroom.errors import CommandError, EngineUnavailable, ErrorCode
from liveroom.http import caller, error_response, json_response, read_json
from liveroom.protocol import OBJECT_ID, ident_field

if TYPE_CHECKING:
    from liveroom.features.flashsale import FlashSale

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
    node: NodeContext = request.app.state.node
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


def routes(sales: FlashSale | None) -> list[Route]:
    """The demo's routes; ``/demo/pay`` confirms orders of ``sales``, the node's flash sales
    (None when it runs none)."""

    async def demo_pay(request: Request) -> Response:
        """Play the shop's backend for the demo: confirm payment of the caller's own order.

        A real shop confirms with its API key once its payment provider says so; the demo page has
        no payment provider, so this confirms at once. Only for the demo room, only one's own order.
        ---
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                required: [sale, order]
                properties:
                  sale: {type: string, pattern: "^[A-Za-z0-9_.-]{1,64}$"}
                  order: {type: string, pattern: "^[A-Za-z0-9_.-]{1,64}$"}
        responses:
          "200":
            description: the paid order
            content: {application/json: {schema: {type: object}}}
        security: [{bearer: []}]
        """
        node: NodeContext = request.app.state.node
        room = node.settings.demo_room
        try:
            who = caller(request, node, room)
            body = await read_json(request)
            sale = ident_field(body.get("sale"), "sale", OBJECT_ID)
            order = ident_field(body.get("order"), "order", OBJECT_ID)
            if sales is None:
                raise CommandError(ErrorCode.NOT_FOUND, "flash sales are not on")
            await sales.order(room, sale, order, who.user)  # not_found unless it is the caller's
            return json_response(await sales.confirm(room, sale, order))
        except CommandError as exc:
            return error_response(exc)
        except EngineUnavailable:
            return error_response(CommandError(ErrorCode.UNAVAILABLE, "shared state unreachable"))

    return [
        Route("/", home),
        Route("/demo/token", demo_token),
        Route("/demo/pay", demo_pay, methods=["POST"]),
    ]
