"""HTTP endpoints of private traffic, under ``/api/rooms/{room}``. See
``docs/private-traffic.md``.

Viewers (their token) follow, unfollow and book as themselves; the shop's backend (API key)
does it for the ``user`` its body names (a follow made in the shop's app, say). Hosts set the
room's cards, or their own for all their rooms (``?scope=host``), and schedule the next live.
``PrivateRoutes`` binds the endpoints to one node's ``PrivateTraffic``; each documents itself
for ``/openapi.json`` in its docstring.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from liveroom.auth import Identity
from liveroom.context import NodeContext
from liveroom.errors import CommandError, ErrorCode
from liveroom.features.private.commands import CARD_KINDS, validate_card
from liveroom.features.private.service import PrivateTraffic
from liveroom.http import BACKEND, acting_for, endpoint, read_json
from liveroom.protocol import USER_ID

TITLE_MAX = 200
#: a scheduled start may lie up to a year ahead, in seconds since the epoch
STARTS_MAX = 1e11


class PrivateRoutes:
    def __init__(self, traffic: PrivateTraffic) -> None:
        self.traffic = traffic

    def routes(self) -> list[BaseRoute]:
        viewer, host = endpoint(role="viewer"), endpoint(role="host")
        base = "/api/rooms/{room}"
        return [
            Route(base + "/follow", viewer(self.follow), methods=["POST"]),
            Route(base + "/unfollow", viewer(self.unfollow), methods=["POST"]),
            Route(base + "/followers", viewer(self.followers), methods=["GET"]),
            Route(base + "/private-cards", host(self.get_cards), methods=["GET"]),
            Route(base + "/private-cards/{kind}", host(self.put_card), methods=["PUT"]),
            Route(base + "/private-cards/{kind}", host(self.delete_card), methods=["DELETE"]),
            Route(base + "/booking", host(self.schedule), methods=["PUT"]),
            Route(base + "/booking", viewer(self.get_booking), methods=["GET"]),
            Route(base + "/booking", viewer(self.book), methods=["POST"]),
        ]

    async def _for(self, request: Request, who: Identity) -> Identity:
        if who is BACKEND:
            return acting_for(who, await read_json(request), request.path_params["room"])
        return who

    async def follow(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Follow the room's host (idempotent): a viewer as itself, the backend for ``user``.
        The invite card, when set, goes to that user's connections in the room alone.
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
            description: following now; ``new`` is false when it already did
            content:
              application/json:
                schema:
                  type: object
                  required: [following, new, followers]
                  properties:
                    following: {const: true}
                    new: {type: boolean}
                    followers: {type: integer}
          "409": {description: "bad_host: the room's host id cannot be followed"}
        """
        return await self.traffic.follow(request.path_params["room"], await self._for(request, who))

    async def unfollow(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Stop following the room's host (idempotent).
        ---
        requestBody:
          required: false
          content:
            application/json:
              schema:
                type: object
                properties:
                  user: {type: string, pattern: "^[A-Za-z0-9_.:@-]{1,64}$"}
                  name: {type: string, minLength: 1, maxLength: 64}
        responses:
          "200":
            description: not following now; ``removed`` is false when it did not before
            content:
              application/json:
                schema:
                  type: object
                  required: [following, removed, followers]
        """
        who = await self._for(request, who)
        return await self.traffic.unfollow(request.path_params["room"], who)

    async def followers(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """The follower count of the room's host, and whether the caller follows (the backend:
        ``?user=``).
        ---
        parameters:
          - {name: user, in: query, required: false, schema: {type: string}}
        responses:
          "200":
            description: the count
            content:
              application/json:
                schema:
                  type: object
                  required: [host, followers]
                  properties:
                    host: {type: [string, "null"]}
                    followers: {type: integer}
                    following: {type: boolean}
        """
        return await self.traffic.followers(request.path_params["room"], _about(request, who))

    async def get_cards(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """The room's cards as the host set them: for each kind the room's own, the host's for
        all its rooms, and the one that applies here (the room's, else the host's).
        ---
        responses:
          "200":
            description: the cards
            content: {application/json: {schema: {type: object, required: [invite, service]}}}
        """
        return await self.traffic.cards(request.path_params["room"])

    async def put_card(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Set the ``invite`` card (sent after a follow) or the ``service`` card (sent after a
        paid order), for this room or, with ``?scope=host``, for every room of its host.
        ---
        parameters:
          - {name: kind, in: path, required: true, schema: {enum: [invite, service]}}
          - {name: scope, in: query, required: false, schema: {enum: [room, host]}}
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                required: [message]
                additionalProperties: false
                properties:
                  message: {type: string, minLength: 1, maxLength: 200}
                  link: {type: string, maxLength: 500}  # an http(s) URL
                  # a QR code image: an http(s) URL or a /path
                  image: {type: string, maxLength: 500}
        responses:
          "200":
            description: the room's cards after the change
            content: {application/json: {schema: {type: object, required: [invite, service]}}}
          "400": {description: "bad_card: no message, or neither a link nor an image, or a bad URL"}
        """
        kind, for_host = _card_target(request)
        card = validate_card(await read_json(request))
        return await self.traffic.set_card(request.path_params["room"], kind, card, for_host)

    async def delete_card(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Remove the room's card of ``kind`` (or the host's, with ``?scope=host``).
        ---
        parameters:
          - {name: kind, in: path, required: true, schema: {enum: [invite, service]}}
          - {name: scope, in: query, required: false, schema: {enum: [room, host]}}
        responses:
          "200":
            description: the room's cards after the change
            content: {application/json: {schema: {type: object, required: [invite, service]}}}
        """
        kind, for_host = _card_target(request)
        return await self.traffic.set_card(request.path_params["room"], kind, None, for_host)

    async def schedule(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Schedule the room's next live: viewers may book it until the room goes live. Again
        while it is open: changes its title and time, keeps its bookings.
        ---
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                required: [title]
                additionalProperties: false
                properties:
                  title: {type: string, minLength: 1, maxLength: 200}
                  # the announced start, seconds since the epoch
                  starts: {type: number, minimum: 0}
        responses:
          "200":
            description: the booking round
            content: {application/json: {schema: {type: object, required: [booking]}}}
          "409": {description: "room_live (the room is live now) or booking_busy (retry)"}
        """
        body = await read_json(request)
        unknown = set(body) - {"title", "starts"}
        if unknown:
            raise CommandError(ErrorCode.BAD_REQUEST, f"unknown field {sorted(unknown)[0][:40]!r}")
        title = body.get("title")
        if not isinstance(title, str) or not 0 < len(title.strip()) <= TITLE_MAX:
            raise CommandError(ErrorCode.BAD_REQUEST, f"title is 1 to {TITLE_MAX} characters")
        starts = body.get("starts", 0)
        if isinstance(starts, bool) or not isinstance(starts, int | float):
            raise CommandError(ErrorCode.BAD_REQUEST, "starts is a number of seconds")
        if not 0 <= starts <= STARTS_MAX:
            raise CommandError(ErrorCode.BAD_REQUEST, "starts is seconds since the epoch")
        return await self.traffic.schedule(request.path_params["room"], title.strip(), starts)

    async def get_booking(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """The room's booking round (null when none was scheduled), and whether the caller
        booked it (the backend: ``?user=``).
        ---
        parameters:
          - {name: user, in: query, required: false, schema: {type: string}}
        responses:
          "200":
            description: the round
            content: {application/json: {schema: {type: object, required: [booking]}}}
        """
        return await self.traffic.booking_for(request.path_params["room"], _about(request, who))

    async def book(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Book the room's scheduled live (idempotent): a viewer as itself, the backend for
        ``user``. When the room goes live the backend gets a ``room.started`` event for it.
        ---
        requestBody:
          required: false
          content:
            application/json:
              schema:
                type: object
                properties:
                  user: {type: string, pattern: "^[A-Za-z0-9_.:@-]{1,64}$"}
                  name: {type: string, minLength: 1, maxLength: 64}
        responses:
          "200":
            description: booked; ``new`` is false for a repeat
            content:
              application/json:
                schema: {type: object, required: [booked, new, bookings]}
          "404": {description: "not_scheduled: no upcoming live in this room"}
          "409": {description: "room_live or room_ended"}
        """
        return await self.traffic.book(request.path_params["room"], await self._for(request, who))


def _about(request: Request, who: Identity) -> str | None:
    """The user a read is about: the caller, or the backend's ``?user=``."""
    if who is not BACKEND:
        return who.user
    user = request.query_params.get("user")
    if user is not None and not USER_ID.fullmatch(user):
        raise CommandError(ErrorCode.BAD_REQUEST, "user id malformed")
    return user


def _card_target(request: Request) -> tuple[str, bool]:
    """The card kind of the path and whether ``?scope=host`` asks for the host's card."""
    kind = request.path_params["kind"]
    if kind not in CARD_KINDS:
        raise CommandError(ErrorCode.NOT_FOUND, "a card is invite or service")
    scope = request.query_params.get("scope", "room")
    if scope not in ("room", "host"):
        raise CommandError(ErrorCode.BAD_REQUEST, "scope is room or host")
    return kind, scope == "host"
