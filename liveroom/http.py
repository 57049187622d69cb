"""HTTP helpers shared by the API routes of the core and of every feature.

Auth: ``Authorization: Bearer <credential>``, where the credential is either the backend's API
key (every room, every action) or a token for the room in the path. ``endpoint`` wraps a
handler with the room-id check, the caller and role check, and JSON errors (``{"error": {code,
message, retry}}`` with the code's HTTP status). ``order_routes`` declares the order endpoints
(read, cancel, confirm) that every feature taking orders has, the same way for each.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from liveroom import auth, metrics
from liveroom.auth import Identity
from liveroom.context import NodeContext
from liveroom.errors import AuthError, CommandError, EngineUnavailable, ErrorCode
from liveroom.protocol import OBJECT_ID, ROOM_ID, USER_ID, ident_field

log = logging.getLogger("liveroom.api")  # the name operators filter on; kept

MAX_BODY = 64 * 1024
BACKEND = Identity(user="backend", name="backend", role="admin", rooms=("*",))

Endpoint = Callable[[Request, Any, Identity], Awaitable[Any]]


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def error_response(exc: CommandError) -> Response:
    return json_response({"error": exc.as_dict()}, exc.code.status)


def caller(request: Request, node: NodeContext, room: str | None) -> Identity:
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
        raise CommandError(exc.error_code, exc.message) from None


def endpoint(role: str = "host", backend_only: bool = False) -> Callable[[Endpoint], Any]:
    """Wrap a handler: room id check, caller and role check, JSON errors, ``unavailable``."""

    def wrap(fn: Endpoint) -> Any:
        @functools.wraps(fn)
        async def run(request: Request) -> Response:
            node: NodeContext = request.app.state.node
            try:
                room = request.path_params.get("room")
                if room is not None and not ROOM_ID.fullmatch(room):
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
    if not OBJECT_ID.fullmatch(value):
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
    """The request's JSON object body (``{}`` when empty). A body over ``MAX_BODY`` is refused
    by its declared length, or as soon as what arrives passes it: never read whole first."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit():
        if int(declared) > MAX_BODY:
            raise CommandError(ErrorCode.TOO_LONG, "request body too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise CommandError(ErrorCode.TOO_LONG, "request body too large")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise CommandError(ErrorCode.BAD_JSON, "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise CommandError(ErrorCode.BAD_JSON, "body must be a JSON object")
    return data


class OrderDesk(Protocol):
    """What ``order_routes`` calls: a feature's service for the orders of its sales or deals
    (``owner``: the sale's or the deal's id)."""

    async def order(self, room: str, owner: str, order: str, user: str = "", /) -> Any:
        """The order (its ``public()`` is the answer); raises ``not_found`` when there is none
        or ``user`` (when given) does not own it."""
        ...

    async def cancel(self, room: str, owner: str, order: str, user: str = "", /) -> Any:
        """Cancel the order (``user``, when given, must own it): the body of the answer."""
        ...

    async def confirm(self, room: str, owner: str, order: str, /) -> Any:
        """Mark the order paid: the body of the answer."""
        ...


def order_owner(who: Identity) -> str:
    """Orders a caller may see and cancel: a viewer only its own ("" = every order)."""
    return "" if who.may("host") else who.user


#: the OpenAPI blocks of the order endpoints, after each feature's own summary line
_GET_ORDER = """
---
responses:
  "200":
    description: the order
    content: {application/json: {schema: {type: object, required: [order]}}}
"""
_SETTLED = """
---
responses:
  "200":
    description: the %s order
    content: {application/json: {schema: {type: object}}}
"""


def order_routes(
    path: str, owner: str, desk: OrderDesk, module: str, *, get: str, cancel: str, confirm: str
) -> list[BaseRoute]:
    """The order endpoints of a feature: ``GET path`` (one order; a viewer sees only its own),
    ``POST path/cancel`` (a viewer cancels its own, a host any) and ``POST path/confirm``
    (payment; the backend's API key only). ``path`` ends in ``/{<owner>}/orders/{order}``;
    ``desk`` answers them. ``get``, ``cancel`` and ``confirm`` are the endpoints' summaries in
    the OpenAPI document, where they are tagged by ``module`` (the feature's routes module), as
    if written there."""

    def ids(request: Request) -> tuple[str, str, str]:
        return (
            request.path_params["room"],
            path_id(request, owner, f"{owner} id"),
            path_id(request, "order", "order id"),
        )

    async def get_order(request: Request, node: NodeContext, who: Identity) -> Any:
        found = await desk.order(*ids(request), order_owner(who))
        return {"order": found.public()}

    async def cancel_order(request: Request, node: NodeContext, who: Identity) -> Any:
        return await desk.cancel(*ids(request), order_owner(who))

    async def confirm_order(request: Request, node: NodeContext, who: Identity) -> Any:
        return await desk.confirm(*ids(request))

    for fn, summary, block in (
        (get_order, get, _GET_ORDER),
        (cancel_order, cancel, _SETTLED % "cancelled"),
        (confirm_order, confirm, _SETTLED % "paid"),
    ):
        fn.__doc__ = summary + block
        fn.__module__ = module
        fn.__qualname__ = fn.__name__
    viewer = endpoint(role="viewer")
    backend = endpoint(role="admin", backend_only=True)
    return [
        Route(path, viewer(get_order), methods=["GET"]),
        Route(path + "/cancel", viewer(cancel_order), methods=["POST"]),
        Route(path + "/confirm", backend(confirm_order), methods=["POST"]),
    ]
