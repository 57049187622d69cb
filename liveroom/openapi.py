"""The OpenAPI document of the HTTP API, built from the routes the app really has.

Every HTTP endpoint documents itself in its docstring: the first line is the summary, and after
a line holding only ``---`` comes a YAML mapping that is the OpenAPI operation object
(``requestBody``, ``responses``, ``description``, ...). A feature module that adds a route
documents it in its own file, next to its handler::

    @endpoint(role="host")
    async def start_sale(request, node, who):
        \"\"\"Start a flash sale.
        ---
        requestBody:
          content:
            application/json:
              schema: {type: object, required: [sku], properties: {sku: {type: string}}}
        responses:
          "200": {description: the sale, content: {application/json: {schema: {type: object}}}}
        \"\"\"

``document(routes)`` walks the routes, so the document cannot list a route that is gone, and
``tests/security/test_openapi.py`` fails on a route whose docstring has no block. Filled in for
every operation unless it says otherwise: ``operationId``, ``tags`` (the feature's name for a
route of a feature package, ``liveroom.features.<name>``, else the module's name), the path
parameters (strings, from the path template), a ``default`` error response, and for endpoints
wrapped by ``http.endpoint`` the bearer security and ``x-liveroom-role``.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Iterable
from enum import Enum
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.schemas import BaseSchemaGenerator, EndpointInfo

from liveroom import __version__
from liveroom.errors import ErrorCode

log = logging.getLogger("liveroom.openapi")

MARKER = "---"
PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


def error_schema(codes: Iterable[Enum]) -> dict[str, Any]:
    """The schema of an error body, its ``code`` one of ``codes``."""
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "retry"],
                "properties": {
                    "code": {"type": "string", "enum": [c.value for c in codes]},
                    "message": {"type": "string"},
                    "retry": {
                        "type": "boolean",
                        "description": "whether the same call may succeed later",
                    },
                },
            }
        },
    }


ERROR_RESPONSE: dict[str, Any] = {
    "description": "an error: see docs/protocol.md for the codes and their HTTP statuses",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


class UndocumentedRoute(Exception):
    """A route's endpoint has no OpenAPI block in its docstring, or a block that is not YAML."""


def operation_block(func: Any) -> tuple[str, dict[str, Any]] | None:
    """The summary and the operation mapping in ``func``'s docstring; None without a block."""
    doc = inspect.getdoc(func) or ""
    head, marker, tail = doc.partition("\n" + MARKER + "\n")
    if not marker:
        head, marker, tail = doc.partition("\n" + MARKER)
        if not marker or tail.strip():
            return None
    try:
        parsed = yaml.safe_load(tail) or {}
    except yaml.YAMLError as exc:
        raise UndocumentedRoute(
            f"{func.__qualname__}: the OpenAPI block is not YAML: {exc}"
        ) from None
    if not isinstance(parsed, dict):
        raise UndocumentedRoute(f"{func.__qualname__}: the OpenAPI block is not a mapping")
    summary = head.strip().splitlines()[0] if head.strip() else ""
    return summary, parsed


class _Endpoints(BaseSchemaGenerator):
    def get_schema(self, routes: list[BaseRoute]) -> dict[str, Any]:
        raise NotImplementedError


def endpoints(routes: list[BaseRoute]) -> list[EndpointInfo]:
    """Every (path, method, function) the routes serve over HTTP; HEAD and WebSockets left out."""
    return _Endpoints().get_endpoints(routes)


def _tag(module: str) -> str:
    """The default tag of an endpoint defined in ``module``."""
    parts = module.split(".")
    if parts[:2] == ["liveroom", "features"] and len(parts) > 3:
        return parts[2]  # liveroom.features.rooms.routes: "rooms"
    return parts[-1]


def _operation(info: EndpointInfo) -> dict[str, Any]:
    block = operation_block(info.func)
    if block is None:
        raise UndocumentedRoute(
            f"{info.http_method.upper()} {info.path} ({info.func.__module__}."
            f"{info.func.__qualname__}) has no OpenAPI block: add '---' and YAML to its docstring"
        )
    summary, op = block
    op = dict(op)
    if summary:
        op.setdefault("summary", summary)
    slug = re.sub(r"[^A-Za-z0-9]+", "_", info.path).strip("_") or "root"
    op.setdefault("operationId", f"{info.http_method}_{slug}")
    op.setdefault("tags", [_tag(info.func.__module__)])
    declared = {(p.get("name"), p.get("in")) for p in op.get("parameters", [])}
    params = list(op.get("parameters", []))
    for name in PATH_PARAM.findall(info.path):
        if (name, "path") not in declared:
            params.append(
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            )
    if params:
        op["parameters"] = params
    responses = dict(op.get("responses") or {})
    responses = {str(status): body for status, body in responses.items()}
    responses.setdefault("default", ERROR_RESPONSE)
    op["responses"] = responses
    role = getattr(info.func, "liveroom_role", None)
    if role is not None:
        op.setdefault("security", [{"bearer": []}])
        op.setdefault("x-liveroom-role", role)
        if getattr(info.func, "liveroom_backend_only", False):
            op.setdefault("x-liveroom-backend-only", True)
    else:
        op.setdefault("security", [])
    return op


def document(
    routes: list[BaseRoute], strict: bool = True, codes: Iterable[Enum] = ErrorCode
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``routes``, whose errors answer with ``codes`` (a node's are
    ``Node.error_codes``: the core's and its features').

    Raises ``UndocumentedRoute`` on a gap; with ``strict=False`` logs it and leaves the route out
    (what the server does, so one undocumented route does not take the document down).
    """
    paths: dict[str, dict[str, Any]] = {}
    for info in endpoints(routes):
        try:
            operation = _operation(info)
        except UndocumentedRoute:
            if strict:
                raise
            log.warning("left out of /openapi.json", exc_info=True)
            continue
        paths.setdefault(info.path, {})[info.http_method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "liveroom HTTP API",
            "version": __version__,
            "description": (
                "For the shop's backend and the host console. Authenticate with "
                "`Authorization: Bearer <credential>`: the backend's API key (every room, every "
                "action) or a signed token valid for the room in the path, whose role must reach "
                "the operation's `x-liveroom-role`. The WebSocket protocol is in docs/protocol.md."
            ),
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": error_schema(codes)},
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the backend API key, or a JWT (HS256) signed with the secret",
                }
            },
        },
    }


async def openapi_json(request: Request) -> Response:
    """This document.
    ---
    responses:
      "200":
        description: the OpenAPI document of this server's HTTP API
        content: {application/json: {schema: {type: object}}}
    """
    from liveroom.http import json_response

    cached = getattr(request.app.state, "openapi", None)
    if cached is None:
        node = request.app.state.node
        cached = request.app.state.openapi = document(
            request.app.routes, strict=False, codes=node.error_codes
        )
    return json_response(cached)
