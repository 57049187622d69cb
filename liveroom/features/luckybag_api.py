"""Lucky-bag WebSocket commands and HTTP endpoints. Both call ``LuckyBags``; see docs/luckybag.md.

WebSocket: ``bag_create``, ``bag_open``, ``bag_draw``, ``bag_revoke`` (host) and ``bag_join``.
HTTP, under ``/api/rooms/{room}/bags``: create and list; ``/{bag}`` to read one; ``/{bag}/open``,
``/draw``, ``/revoke`` and ``/join``; ``/{bag}/proof``, the participants and the recipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from liveroom.api import BACKEND, acting_for, endpoint, path_id, read_json
from liveroom.auth import Identity
from liveroom.connection.session import Session
from liveroom.errors import CommandError, ErrorCode
from liveroom.features import luckybag
from liveroom.features.luckybag_rules import public_view
from liveroom.protocol import OBJECT_ID, Command, ident_field, register

if TYPE_CHECKING:
    from liveroom.app import Node

RULE_FIELDS = (
    "prize",
    "value_fen",
    "winners",
    "duration_s",
    "join",
    "keyword",
    "must_stay",
    "open",
)
LIST_LIMIT = 50


# ---------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class CreateBag(Command):
    type: ClassVar[str] = "bag_create"
    role: ClassVar[str] = "host"
    rules: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, rid: str, body: dict[str, Any]) -> Command:
        return cls(rid, {k: body[k] for k in RULE_FIELDS if k in body})


@dataclass(frozen=True, slots=True)
class OpenBag(Command):
    type: ClassVar[str] = "bag_open"
    role: ClassVar[str] = "host"
    bag: str = ""

    @classmethod
    def parse(cls, rid: str, body: dict[str, Any]) -> Command:
        return cls(rid, ident_field(body.get("bag"), "bag", OBJECT_ID))


@dataclass(frozen=True, slots=True)
class DrawBag(OpenBag):
    type: ClassVar[str] = "bag_draw"


@dataclass(frozen=True, slots=True)
class RevokeBag(OpenBag):
    type: ClassVar[str] = "bag_revoke"


@dataclass(frozen=True, slots=True)
class JoinBag(OpenBag):
    type: ClassVar[str] = "bag_join"
    role: ClassVar[str] = "viewer"


register(CreateBag, OpenBag, DrawBag, RevokeBag, JoinBag)


@Session.handles(CreateBag)
async def handle_bag_create(session: Session, command: CreateBag) -> dict[str, Any]:
    feature = luckybag.of(session.node)
    bag = await feature.create(session.room.id, command.rules, session.who)
    return {"bag": public_view(bag, feature.clock())}


@Session.handles(OpenBag)
async def handle_bag_open(session: Session, command: OpenBag) -> dict[str, Any]:
    feature = luckybag.of(session.node)
    bag = await feature.open_bag(session.room.id, command.bag)
    return {"bag": public_view(bag, feature.clock())}


@Session.handles(DrawBag)
async def handle_bag_draw(session: Session, command: DrawBag) -> dict[str, Any]:
    bag = await luckybag.of(session.node).draw(session.room.id, command.bag)
    return {"bag": public_view(bag)}


@Session.handles(RevokeBag)
async def handle_bag_revoke(session: Session, command: RevokeBag) -> dict[str, Any]:
    bag = await luckybag.of(session.node).revoke(session.room.id, command.bag)
    return {"bag": public_view(bag)}


@Session.handles(JoinBag)
async def handle_bag_join(session: Session, command: JoinBag) -> dict[str, Any]:
    answer = await luckybag.of(session.node).join(session.room.id, command.bag, session.who)
    return {"bag": command.bag, "joined": True, "new": answer.new, "count": answer.count}


# ---------------------------------------------------------------------- HTTP


def _bag_id(request: Request) -> str:
    return path_id(request, "bag", "bag id")


@endpoint(role="host")
async def post_bag(request: Request, node: Node, who: Identity) -> Any:
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
    feature = luckybag.of(node)
    body = await read_json(request)
    unknown = set(body) - set(RULE_FIELDS)
    if unknown:
        raise CommandError(ErrorCode.BAD_REQUEST, f"unknown bag field {sorted(unknown)[0][:40]!r}")
    bag = await feature.create(request.path_params["room"], body, who)
    return {"bag": public_view(bag, feature.clock())}


@endpoint(role="viewer")
async def get_bags(request: Request, node: Node, who: Identity) -> Any:
    """The room's recent lucky bags.
    ---
    responses:
      "200":
        description: the bags
        content: {application/json: {schema: {type: object, required: [bags]}}}
    """
    feature = luckybag.of(node)
    bags = await feature.store.recent(request.path_params["room"], LIST_LIMIT)
    now = feature.clock()
    return {"bags": [public_view(bag, now) for bag in bags]}


@endpoint(role="viewer")
async def get_bag(request: Request, node: Node, who: Identity) -> Any:
    """One lucky bag.
    ---
    responses:
      "200":
        description: the bag
        content: {application/json: {schema: {type: object, required: [bag]}}}
    """
    feature = luckybag.of(node)
    bag = await feature.get(request.path_params["room"], _bag_id(request))
    return {"bag": public_view(bag, feature.clock())}


@endpoint(role="host")
async def post_open(request: Request, node: Node, who: Identity) -> Any:
    """Open a bag for joining.
    ---
    responses:
      "200":
        description: the bag
        content: {application/json: {schema: {type: object, required: [bag]}}}
    """
    feature = luckybag.of(node)
    bag = await feature.open_bag(request.path_params["room"], _bag_id(request))
    return {"bag": public_view(bag, feature.clock())}


@endpoint(role="host")
async def post_draw(request: Request, node: Node, who: Identity) -> Any:
    """Draw the winners now.
    ---
    responses:
      "200":
        description: the bag with its winners
        content: {application/json: {schema: {type: object, required: [bag]}}}
    """
    bag = await luckybag.of(node).draw(request.path_params["room"], _bag_id(request))
    return {"bag": public_view(bag)}


@endpoint(role="host")
async def post_revoke(request: Request, node: Node, who: Identity) -> Any:
    """Revoke a bag: no draw.
    ---
    responses:
      "200":
        description: the bag
        content: {application/json: {schema: {type: object, required: [bag]}}}
    """
    bag = await luckybag.of(node).revoke(request.path_params["room"], _bag_id(request))
    return {"bag": public_view(bag)}


@endpoint(role="viewer")
async def post_join(request: Request, node: Node, who: Identity) -> Any:
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
    answer = await luckybag.of(node).join(request.path_params["room"], bag_id, who)
    return {"bag": bag_id, "joined": True, "new": answer.new, "count": answer.count}


@endpoint(role="viewer")
async def get_proof(request: Request, node: Node, who: Identity) -> Any:
    """The draw's proof, checkable with docs/verify_luckybag.py.
    ---
    responses:
      "200":
        description: the proof
        content: {application/json: {schema: {type: object}}}
    """
    return await luckybag.of(node).proof(request.path_params["room"], _bag_id(request))


def routes() -> list[BaseRoute]:
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
