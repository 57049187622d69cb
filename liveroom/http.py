"""HTTP helpers shared by the API routes of the core and of every feature.

Auth: ``Authorization: Bearer <credential>``, where the credential is either the backend's API
key (every room, every action) or a token for the room in the path. ``endpoint`` wraps a
handler with the room-id check, the caller and role check, and JSON errors (``{"error": {code,
message, retry}}`` with the code's HTTP status).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

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
    body = await request.body()
    if len(body) > MAX_BODY:
        raise CommandError(ErrorCode.TOO_LONG, "request body too large")
    if not body:
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise CommandError(ErrorCode.BAD_JSON, "body is not valid JSON") from None
    if not isinstance(data, dict):
        raise CommandError(ErrorCode.BAD_JSON, "body must be a JSON object")
    return data
