"""HTTP API of the feed (``docs/events.md``): endpoints, the dead letter, and the feed's health.

The backend (API key) manages endpoints and dead letters under ``/api/feed``; a room's host
reads the feed's health for the console at ``/api/rooms/{room}/feed``. No answer ever carries
an endpoint's secret.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from liveroom.auth import Identity
from liveroom.context import NodeContext
from liveroom.engine.outbox import Entry
from liveroom.errors import CommandError, ErrorCode
from liveroom.features.events.delivery import Deliverer, Outcome
from liveroom.features.events.endpoints import check_host, endpoint_from, refuse
from liveroom.features.events.source import FeedSource
from liveroom.http import endpoint, json_response, read_json

#: ids matched whole (``fullmatch``), ASCII digits only (``\d`` takes any script's) and up to
#: ``\Z`` (``$`` also matches before a final newline), as ``protocol.ROOM_ID``
DEAD_ID = re.compile(r"\A[0-9]{1,20}-[0-9]{1,20}\Z")
ENDPOINT_ID = re.compile(r"\A[a-z0-9-]{1,40}\Z")
LIMIT = re.compile(r"\A[0-9]{1,4}\Z")
#: the largest part of a stream id Redis takes
_ID_PART_MAX = 2**64 - 1


def dead_id(value: object) -> bool:
    """Whether ``value`` is a stream id Redis would take: two parts of at most 2**64 - 1."""
    if not isinstance(value, str) or not DEAD_ID.fullmatch(value):
        return False
    ms, seq = value.split("-")
    return int(ms) <= _ID_PART_MAX and int(seq) <= _ID_PART_MAX


MAX_REPLAY = 100


class FeedRoutes:
    """The feed's routes, bound to one node's deliverer and source."""

    def __init__(self, deliverer: Deliverer, source: FeedSource) -> None:
        self.deliverer = deliverer
        self.source = source

    def routes(self) -> list[BaseRoute]:
        backend = endpoint(role="admin", backend_only=True)
        host = endpoint(role="host")
        return [
            Route("/api/feed/endpoints", backend(self.add_endpoint), methods=["POST"]),
            Route("/api/feed/endpoints", backend(self.list_endpoints), methods=["GET"]),
            Route(
                "/api/feed/endpoints/{endpoint}",
                backend(self.delete_endpoint),
                methods=["DELETE"],
            ),
            Route("/api/feed/dead", backend(self.list_dead), methods=["GET"]),
            Route("/api/feed/dead/replay", backend(self.replay_dead), methods=["POST"]),
            Route("/api/rooms/{room}/feed", host(self.health), methods=["GET"]),
        ]

    async def add_endpoint(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Add a webhook endpoint: every room (``rooms`` omitted or ``["*"]``) or some, every
        event type (``types`` omitted or empty) or some. The secret is kept to sign and never
        shown again. Deliveries start with the events appended from now on.
        ---
        tags: [feed]
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                required: [url, secret]
                additionalProperties: false
                properties:
                  url: {type: string, description: "http(s); not link-local or metadata"}
                  secret: {type: string, description: "whsec_ + base64 of 24 to 64 bytes"}
                  rooms: {type: array, items: {type: string}}
                  types: {type: array, items: {type: string}}
        responses:
          "201": {description: "the endpoint, without its secret"}
          "400": {description: "bad_endpoint: a refused URL (SSRF), secret, room or type"}
        """
        body = await read_json(request)
        s = node.settings
        found = endpoint_from(
            body,
            id="ep-" + secrets.token_hex(6),
            created=node.now(),
            loopback=s.feed_allow_loopback,
        )
        await check_host(urlsplit(found.url).hostname or "", s.feed_allow_loopback)
        await self.source.put_endpoint(found)
        self.deliverer.endpoints[found.id] = found
        self.deliverer.kick()
        return json_response(found.public(), 201)

    async def list_endpoints(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Every webhook endpoint, the environment's and the API's (secrets never shown).
        ---
        tags: [feed]
        responses:
          "200": {description: "{endpoints: [...]}"}
        """
        await self.deliverer.refresh_endpoints()
        return {"endpoints": [e.public() for e in self.deliverer.endpoints.values()]}

    async def delete_endpoint(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Remove an endpoint added by the API; its deliveries stop.
        ---
        tags: [feed]
        parameters:
          - {name: endpoint, in: path, required: true, schema: {type: string}}
        responses:
          "200": {description: "{deleted: true}"}
          "400": {description: "bad_endpoint: configured by the environment"}
          "404": {description: no such endpoint}
        """
        endpoint_id = str(request.path_params["endpoint"])
        if not ENDPOINT_ID.fullmatch(endpoint_id):
            raise CommandError(ErrorCode.BAD_REQUEST, "endpoint id malformed")
        if endpoint_id.startswith("env-"):
            raise refuse("this endpoint is configured by the environment (feed_endpoints)")
        if not await self.source.delete_endpoint(endpoint_id):
            raise CommandError(ErrorCode.NOT_FOUND, "no such endpoint")
        self.deliverer.endpoints.pop(endpoint_id, None)
        return {"deleted": True}

    async def list_dead(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Dead letters, newest first: events an endpoint refused (4xx) or did not take after
        every attempt.
        ---
        tags: [feed]
        parameters:
          - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 1000}}
          - {name: before, in: query, schema: {type: string}, description: a dead-letter id}
        responses:
          "200": {description: "{dead: [{id, endpoint, event, error, attempts, at}], count}"}
        """
        raw_limit = request.query_params.get("limit", "100")
        if not LIMIT.fullmatch(raw_limit) or not 1 <= int(raw_limit) <= 1000:
            raise CommandError(ErrorCode.BAD_REQUEST, "limit is 1 to 1000")
        before = request.query_params.get("before")
        if before is not None and not dead_id(before):
            raise CommandError(ErrorCode.BAD_REQUEST, "before is a dead-letter id")
        letters = await self.source.dead(int(raw_limit), before)
        return {"dead": [d.public() for d in letters], "count": await self.source.dead_count()}

    async def replay_dead(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """Send dead letters again, now, each to its endpoint, with its original id (the
        receiver's idempotency key). Those taken leave the dead letter; the others stay.
        ---
        tags: [feed]
        requestBody:
          required: true
          content:
            application/json:
              schema:
                type: object
                required: [ids]
                properties: {ids: {type: array, items: {type: string}, maxItems: 100}}
        responses:
          "200": {description: "{replayed: [ids], failed: [{id, error}], missing: [ids]}"}
        """
        body = await read_json(request)
        ids = body.get("ids")
        if (
            not isinstance(ids, list)
            or not 0 < len(ids) <= MAX_REPLAY
            or not all(dead_id(i) for i in ids)
        ):
            raise CommandError(ErrorCode.BAD_REQUEST, f"ids: 1 to {MAX_REPLAY} dead-letter ids")
        await self.deliverer.refresh_endpoints()
        letters = await self.source.dead_by_id(ids)
        replayed: list[str] = []
        failed: list[dict[str, str]] = []
        for letter in letters:
            target = self.deliverer.endpoints.get(letter.endpoint)
            if target is None:
                failed.append({"id": letter.id, "error": "endpoint removed"})
                continue
            outcome, reason = await self.deliverer.post(target, [_entry(letter.event)])
            if outcome is Outcome.OK:
                replayed.append(letter.id)
            else:
                failed.append({"id": letter.id, "error": reason})
        await self.source.unbury(replayed)
        found = {d.id for d in letters}
        return {
            "replayed": replayed,
            "failed": failed,
            "missing": [i for i in ids if i not in found],
        }

    async def health(self, request: Request, node: NodeContext, who: Identity) -> Any:
        """The feed's health as this process sees it, for the host console: deliveries,
        failures, dead letters, events lost to the outbox bound, lag, and the endpoints that
        hear this room (host names only).
        ---
        tags: [feed]
        parameters:
          - {name: room, in: path, required: true, schema: {type: string}}
        responses:
          "200": {description: the feed's counters and its endpoints' health}
        """
        room = request.path_params["room"]
        h = self.deliverer.health
        endpoints = []
        for e in self.deliverer.endpoints.values():
            if not e.hears(room):
                continue
            stats = h.by_endpoint.get(e.id)
            endpoints.append(
                {
                    "id": e.id,
                    "host": urlsplit(e.url).hostname,
                    "types": list(e.types),
                    **(stats.public() if stats else {}),
                }
            )
        return {
            "room": room,
            "endpoints": endpoints,
            "lanes": self.deliverer.lanes,
            "delivered": h.delivered,
            "attempts": h.attempts,
            "failures": h.failures,
            "dead_lettered": h.dead,
            "dead_letters": await self.source.dead_count(),
            "skipped": h.skipped,
            "lag_s": round(h.lag_s, 3),
        }


def _entry(event: dict[str, Any]) -> Entry:
    """The outbox entry a dead letter's event came from (its id and payload unchanged)."""
    room, _, entry = str(event["id"]).partition(":")
    return Entry(
        entry,
        event["type"],
        room,
        round(float(event["timestamp"]) * 1000),
        orjson.dumps(event["data"]),
    )
