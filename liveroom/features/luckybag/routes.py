"""The lucky bag's HTTP routes, under ``/api/rooms/{room}/bags``; see docs/luckybag.md.

Create and list; ``/{bag}`` to read one; ``/{bag}/open``, ``/draw``, ``/revoke`` and ``/join``;
``/{bag}/proof``, the participants and the recipe. Each endpoint calls the node's ``LuckyBags``
it closes over, and documents itself for OpenAPI after its docstring's ``---``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from liveroom.auth import Identity
from liveroom.errors import CommandError, ErrorCode
from liveroom.features.luckybag.commands import RULE_FIELDS
from liveroom.features.luckybag.rules import public_view
from liveroom.http import BACKEND, acting_for, endpoint, path_id, read_json

if TYPE_CHECKING:
    from liveroom.context import NodeContext
    from liveroom.features.luckybag.actions import Bags

LIST_LIMIT = 50


def _bag_id(request: Request) -> str:
    return path_id(request, "bag", "bag id")


def routes(bags: Bags) -> list[BaseRoute]:
    """The lucky-bag endpoints of one node, each bound to ``bags``."""

    @endpoint(role="host")
    async def post_bag(request: Request, node: NodeContext, who: Identity) -> Any:
        """Create a lucky bag (a draw among the viewers who join).
        ---
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                additionalProperties: false
                properties:
                  prize: {type: string}
                  value_fen: {type: integer, minimum: 0}
                  winners: {type: integer, minimum: 1}
                  duration_s: {type: integer, minimum: 1}
                  join: {type: string, enum: [tap, keyword], description: "how viewers join"}
                  keyword: {type: string}
                  must_stay: {type: boolean}
                  open: {type: boolean}
        responses:
          "200":
            description: the bag
            content: {application/json: {schema: {type: object, required: [bag]}}}
        """
        body = await read_json(request)
        unknown = set(body) - set(RULE_FIELDS)
        if unknown:
            field = sorted(unknown)[0][:40]
            raise CommandError(ErrorCode.BAD_REQUEST, f"unknown bag field {field!r}")
        bag = await bags.create(request.path_params["room"], body, who)
        return {"bag": public_view(bag, bags.ctx.now())}

    @endpoint(role="viewer")
    async def get_bags(request: Request, node: NodeContext, who: Identity) -> Any:
        """The room's recent lucky bags.
        ---
        responses:
          "200":
            description: the bags
            content: {application/json: {schema: {type: object, required: [bags]}}}
        """
        recent = await bags.store.recent(request.path_params["room"], LIST_LIMIT)
        now = bags.ctx.now()
        return {"bags": [public_view(bag, now) for bag in recent]}

    @endpoint(role="viewer")
    async def get_bag(request: Request, node: NodeContext, who: Identity) -> Any:
        """One lucky bag.
        ---
        responses:
          "200":
            description: the bag
            content: {application/json: {schema: {type: object, required: [bag]}}}
        """
        bag = await bags.get(request.path_params["room"], _bag_id(request))
        return {"bag": public_view(bag, bags.ctx.now())}

    @endpoint(role="host")
    async def post_open(request: Request, node: NodeContext, who: Identity) -> Any:
        """Open a bag for joining.
        ---
        responses:
          "200":
            description: the bag
            content: {application/json: {schema: {type: object, required: [bag]}}}
        """
        bag = await bags.open_bag(request.path_params["room"], _bag_id(request))
        return {"bag": public_view(bag, bags.ctx.now())}

    @endpoint(role="host")
    async def post_draw(request: Request, node: NodeContext, who: Identity) -> Any:
        """Draw the winners now.
        ---
        responses:
          "200":
            description: the bag with its winners
            content: {application/json: {schema: {type: object, required: [bag]}}}
        """
        bag = await bags.draw(request.path_params["room"], _bag_id(request))
        return {"bag": public_view(bag)}

    @endpoint(role="host")
    async def post_revoke(request: Request, node: NodeContext, who: Identity) -> Any:
        """Revoke a bag: no draw.
        ---
        responses:
          "200":
            description: the bag
            content: {application/json: {schema: {type: object, required: [bag]}}}
        """
        bag = await bags.revoke(request.path_params["room"], _bag_id(request))
        return {"bag": public_view(bag)}

    @endpoint(role="viewer")
    async def post_join(request: Request, node: NodeContext, who: Identity) -> Any:
        """A viewer joins as itself; the backend (API key) names the user in the body.
        ---
        requestBody:
          required: false
          content:
            application/json:
              schema:
                type: object
                properties:
                  # backend (API key) only: the user the call is for, and its display name
                  user: {type: string, pattern: "^[A-Za-z0-9_.:@-]{1,64}$"}
                  name: {type: string, minLength: 1, maxLength: 64}
        responses:
          "200":
            description: whether this join was new, and the count
            content: {application/json: {schema: {type: object, required: [bag, joined]}}}
        """
        bag_id = _bag_id(request)
        if who is BACKEND:
            who = acting_for(who, await read_json(request), request.path_params["room"])
        answer = await bags.join(request.path_params["room"], bag_id, who)
        return {"bag": bag_id, "joined": True, "new": answer.new, "count": answer.count}

    @endpoint(role="viewer")
    async def get_proof(request: Request, node: NodeContext, who: Identity) -> Any:
        """The draw's proof, checkable with docs/verify_luckybag.py.
        ---
        responses:
          "200":
            description: the proof
            content: {application/json: {schema: {type: object}}}
        """
        return await bags.proof(request.path_params["room"], _bag_id(request))

    base = "/api/rooms/{room}/bags"
    return [
        Route(base, post_bag, methods=["POST"]),
        Route(base, get_bags, methods=["GET"]),
        Route(base + "/{bag}", get_bag, methods=["GET"]),
        Route(base + "/{bag}/open", post_open, methods=["POST"]),
        Route(base + "/{bag}/draw", post_draw, methods=["POST"]),
        Route(base + "/{bag}/revoke", post_revoke, methods=["POST"]),
        Route(base + "/{bag}/join", post_join, methods=["POST"]),
        Route(base + "/{bag}/proof", get_proof, methods=["GET"]),
    ]
