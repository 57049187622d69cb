"""Coupon HTTP routes, under ``/api/rooms/{room}/coupons``; see docs/coupons.md.

Issue and list batches; ``/{batch}`` for the host's view with the audit; ``/{batch}/claim``
and ``/{batch}/close``; and ``/api/rooms/{room}/coupon-wallets/{user}``, a user's coupons.
Each endpoint calls the node's ``Coupons`` it closes over, and documents itself for OpenAPI
after its docstring's ``---``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from liveroom.auth import Identity
from liveroom.errors import CommandError, ErrorCode
from liveroom.http import acting_for, endpoint, path_id, read_json
from liveroom.protocol import USER_ID, ident_field

if TYPE_CHECKING:
    from liveroom.context import NodeContext
    from liveroom.features.coupons.actions import CouponActions


def _batch(request: Request) -> str:
    return path_id(request, "batch", "coupon batch id")


def routes(coupons: CouponActions) -> list[BaseRoute]:
    """The coupon endpoints of one node, each bound to ``coupons``."""

    @endpoint(role="host")
    async def post_batch(request: Request, node: NodeContext, who: Identity) -> Any:
        """Issue a coupon batch; the room sees its card at once.
        ---
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                required: [value, count]
                properties:
                  title: {type: string, maxLength: 30}
                  kind: {type: string, enum: [amount, percent]}
                  value: {type: integer, minimum: 1, description: "fen off, or percent off"}
                  cap: {type: integer, minimum: 0, description: "percent coupons, most fen off"}
                  min: {type: integer, minimum: 0, description: minimum order in fen}
                  sku: {type: string, pattern: "^[A-Za-z0-9_.-]{1,64}$"}
                  count: {type: integer, minimum: 1, maximum: 1000000}
                  start: {type: number, minimum: 0, description: Unix seconds; 0 for now}
                  end: {type: number, minimum: 0, description: Unix seconds; 0 for none}
                  claim_s: {type: number, minimum: 0, description: claim window from start}
                  valid_s: {type: number, minimum: 0, description: each coupon's life}
                  valid_until: {type: number, minimum: 0, description: Unix seconds}
                  eligibility: {type: string, enum: [all, followers, keyword]}
                  keyword: {type: string, maxLength: 20}
        responses:
          "200":
            description: the batch's card
            content: {application/json: {schema: {type: object, required: [batch]}}}
        """
        return await coupons.issue(request.path_params["room"], await read_json(request))

    @endpoint(role="viewer")
    async def get_batches(request: Request, node: NodeContext, who: Identity) -> Any:
        """The room's coupon batches, oldest first.
        ---
        responses:
          "200":
            description: the batches' cards
            content: {application/json: {schema: {type: object, required: [batches]}}}
        """
        return {"batches": await coupons.batches(request.path_params["room"])}

    @endpoint(role="viewer")
    async def get_wallet(request: Request, node: NodeContext, who: Identity) -> Any:
        """A user's coupons in the room: a viewer reads its own, a host or the backend anyone's.
        ---
        responses:
          "200":
            description: the user's coupons, in the order claimed
            content: {application/json: {schema: {type: object, required: [coupons]}}}
        """
        user = ident_field(request.path_params["user"], "user", USER_ID)
        if who.role == "viewer" and who.user != user:
            raise CommandError(ErrorCode.FORBIDDEN, "a viewer reads only its own coupons")
        return await coupons.wallet(request.path_params["room"], user)

    @endpoint(role="host")
    async def get_batch(request: Request, node: NodeContext, who: Identity) -> Any:
        """One batch with its audit and every claimed coupon (host).
        ---
        responses:
          "200":
            description: the batch, its audit and its coupons
            content:
              application/json: {schema: {type: object, required: [batch, audit, coupons]}}
        """
        return await coupons.details(request.path_params["room"], _batch(request))

    @endpoint(role="viewer")
    async def post_claim(request: Request, node: NodeContext, who: Identity) -> Any:
        """Claim a coupon for the token's user; the backend names the user in the body.
        ---
        requestBody:
          required: false
          content:
            application/json:
              schema:
                type: object
                properties:
                  # backend (API key) only: the user the call is for
                  user: {type: string, pattern: "^[A-Za-z0-9_.:@-]{1,64}$"}
        responses:
          "200":
            description: the claimer's coupon and the batch's card
            content: {application/json: {schema: {type: object, required: [coupon, batch]}}}
        """
        room = request.path_params["room"]
        claimer = acting_for(who, await read_json(request), room)
        return await coupons.claim(room, _batch(request), claimer.user)

    @endpoint(role="host")
    async def post_close(request: Request, node: NodeContext, who: Identity) -> Any:
        """End a batch's claim window now; claimed coupons stay valid.
        ---
        responses:
          "200":
            description: the batch's card
            content: {application/json: {schema: {type: object, required: [batch]}}}
        """
        return await coupons.close_batch(request.path_params["room"], _batch(request))

    base = "/api/rooms/{room}/coupons"
    return [
        Route(base, post_batch, methods=["POST"]),
        Route(base, get_batches, methods=["GET"]),
        Route(base + "/{batch}", get_batch, methods=["GET"]),
        Route(base + "/{batch}/claim", post_claim, methods=["POST"]),
        Route(base + "/{batch}/close", post_close, methods=["POST"]),
        Route("/api/rooms/{room}/coupon-wallets/{user}", get_wallet, methods=["GET"]),
    ]
