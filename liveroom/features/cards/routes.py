"""HTTP endpoints of product cards, under ``/api/rooms/{room}/cards``. See ``docs/cards.md``.

Hosts (their token) and the backend (API key) pin and unpin and read the funnel; viewers read
the board and count their clicks. ``CardRoutes`` binds the endpoints to one node's
``ProductCards``; each is wrapped by ``liveroom.http.endpoint`` with its role in
``CardRoutes.routes``, and documents itself for ``/openapi.json`` in its docstring.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from liveroom.auth import Identity
from liveroom.context import NodeContext
from liveroom.features.cards.commands import replace_field
from liveroom.features.cards.service import ProductCards
from liveroom.http import acting_for, endpoint, path_id, read_json


def _sku(request: Request) -> str:
    return path_id(request, "sku", "sku")


class CardRoutes:
    """The product-card endpoints of one node, bound to its ``ProductCards``."""

    def __init__(self, cards: ProductCards) -> None:
        self.cards = cards

    def routes(self) -> list[BaseRoute]:
        viewer, host = endpoint(role="viewer"), endpoint(role="host")
        base = "/api/rooms/{room}/cards"
        return [
            Route(base, viewer(self.get_cards), methods=["GET"]),
            Route(base, host(self.post_card), methods=["POST"]),
            Route(base, host(self.delete_cards), methods=["DELETE"]),
            Route(base + "/funnel", host(self.get_funnel), methods=["GET"]),
            Route(base + "/{sku}", host(self.delete_card), methods=["DELETE"]),
            Route(base + "/{sku}/click", viewer(self.post_click), methods=["POST"]),
        ]

    async def get_cards(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """The room's pinned product cards.
        ---
        responses:
          "200":
            description: the pinned cards, newest first, and the board version
            content: {application/json: {schema: {type: object, required: [cards, version]}}}
        """
        board = await self.cards.store.board(request.path_params["room"])
        return {"cards": [orjson.Fragment(c) for c in board.cards], "version": board.version}

    async def post_card(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Pin a product card (three at most; ``replace`` names one to unpin).
        ---
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                required: [sku, title, price, image]
                properties:
                  sku: {type: string, pattern: "^[A-Za-z0-9_.-]{1,64}$"}
                  title: {type: string, minLength: 1, maxLength: 60}
                  price: {type: integer, minimum: 0, maximum: 100000000, description: in fen}
                  image: {type: string, maxLength: 500, description: "an http(s) URL or a /path"}
                  reminder: {type: string, maxLength: 20}
                  stock: {type: integer, minimum: 0, maximum: 100000000}
                  sale: {type: string, pattern: "^[A-Za-z0-9_.-]{1,64}$", description: its sale}
                  replace: {type: string, pattern: "^[A-Za-z0-9_.-]{1,64}$", description: to unpin}
        responses:
          "200":
            description: the board after the pin
            content: {application/json: {schema: {type: object}}}
        """
        body = await read_json(request)
        room = request.path_params["room"]
        return await self.cards.pin(room, body, who, replace_field(body))

    async def delete_card(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Unpin one card.
        ---
        responses:
          "200":
            description: the board after the unpin
            content: {application/json: {schema: {type: object}}}
        """
        return await self.cards.unpin(request.path_params["room"], _sku(request), who)

    async def delete_cards(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Unpin every card.
        ---
        responses:
          "200":
            description: the empty board
            content: {application/json: {schema: {type: object}}}
        """
        return await self.cards.unpin(request.path_params["room"], "", who)

    async def post_click(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Count a click on a card for the funnel (once per user and card).
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
            description: whether this click counted
            content: {application/json: {schema: {type: object, required: [sku, counted]}}}
        """
        room = request.path_params["room"]
        user = acting_for(who, await read_json(request), room).user
        return await self.cards.click(room, user, _sku(request))

    async def get_funnel(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Views and clicks per card: the room's product funnel.
        ---
        responses:
          "200":
            description: the funnel
            content: {application/json: {schema: {type: object, required: [room, cards]}}}
        """
        return await self.cards.funnel(request.path_params["room"])
