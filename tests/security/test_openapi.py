"""The OpenAPI document stays true: every route the app has is in it, and nothing else is."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route

from liveroom import openapi
from liveroom.app import create_app
from liveroom.config import Settings

HOW_TO = (
    "document it in its endpoint's docstring: a line '---', then YAML with at least "
    "'responses' (see liveroom/openapi.py)"
)


def _app() -> Starlette:
    """The app with everything switched on, so every route that can exist does."""
    return create_app(Settings(secret="s" * 32, api_key="k" * 32, demo=True))


def _served(routes: list[BaseRoute], prefix: str = "") -> dict[tuple[str, str], Any]:
    """(path, method) -> endpoint for every HTTP route, found without liveroom.openapi's help."""
    out: dict[tuple[str, str], Any] = {}
    for route in routes:
        if isinstance(route, Mount) and route.routes:
            out.update(_served(list(route.routes), prefix + route.path))
        elif isinstance(route, Route):
            for method in route.methods or {"GET"}:
                if method != "HEAD":
                    out[(prefix + route.path, method.lower())] = route.endpoint
    return out


def _documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method) for path, ops in doc["paths"].items() for method in ops}


def test_every_route_has_an_openapi_block() -> None:
    """Each HTTP route's endpoint carries its own OpenAPI block (features included)."""
    missing = [
        f"{method.upper()} {path} ({endpoint.__module__}.{endpoint.__qualname__})"
        for (path, method), endpoint in sorted(_served(_app().routes).items())
        if openapi.operation_block(endpoint) is None
    ]
    assert not missing, "undocumented routes: " + "; ".join(missing) + " -- " + HOW_TO


def test_document_lists_exactly_the_served_routes() -> None:
    """The document's (path, method) pairs are the app's routes: none missing, none stale."""
    app = _app()
    served = set(_served(app.routes))
    documented = _documented(openapi.document(app.routes))
    assert documented == served, {
        "undocumented": sorted(served - documented),
        "stale": sorted(documented - served),
    }


def test_every_api_route_checks_its_caller() -> None:
    """Every /api/ endpoint is wrapped by ``http.endpoint``: a role check on every call."""
    unguarded = [
        f"{method.upper()} {path}"
        for (path, method), endpoint in _served(_app().routes).items()
        if path.startswith("/api/") and getattr(endpoint, "liveroom_role", None) is None
    ]
    assert not unguarded, f"API routes without http.endpoint's role check: {unguarded}"


def test_document_declares_roles_and_security() -> None:
    """Each /api/ operation names its role and the bearer scheme; ops endpoints need no auth."""
    doc = openapi.document(_app().routes)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            assert op.get("summary"), f"{where} has no summary"
            assert op["responses"], f"{where} has no responses"
            if path.startswith("/api/"):
                assert op["security"] == [{"bearer": []}], where
                assert op["x-liveroom-role"] in ("viewer", "host", "admin"), where
    assert doc["paths"]["/healthz"]["get"]["security"] == []


def test_error_schema_lists_the_features_codes() -> None:
    """The error codes in the document are the node's, features' included: a system message
    posted over HTTP may answer ``empty``, a comments code."""
    app = _app()
    doc = openapi.document(app.routes, codes=app.state.node.error_codes)
    error = doc["components"]["schemas"]["Error"]["properties"]["error"]
    listed = error["properties"]["code"]["enum"]
    assert listed == [code.value for code in app.state.node.error_codes]
    assert {"empty", "muted", "duplicate", "not_found"} <= set(listed)


def test_document_is_valid_openapi() -> None:
    """The document passes the OpenAPI 3.1 validator."""
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(openapi.document(_app().routes))


def test_no_description_is_cut_at_a_comma() -> None:
    """Nothing in the document is null. In a docstring's YAML flow mapping, an unquoted
    comma ends the value (``{description: price, in fen}`` is a description ``price`` and a
    key ``in fen`` with no value): a description cut so leaves such a key, which the OpenAPI
    validator passes inside a schema."""
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if value is None:
                    found.append(f"{path}/{key}")
                walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for n, value in enumerate(node):
                walk(value, f"{path}/{n}")

    app = _app()
    walk(openapi.document(app.routes, codes=app.state.node.error_codes), "")
    assert found == [], found


def test_server_serves_the_document(start_server: Any) -> None:
    """``GET /openapi.json`` from a running server returns the document built from the app's
    own routes."""
    server = start_server(demo=True)
    served = httpx.get(server.url + "/openapi.json", timeout=10)
    assert served.status_code == 200
    app = _app()
    assert served.json() == openapi.document(app.routes, codes=app.state.node.error_codes)


def test_error_schema_lists_every_code() -> None:
    """The error body's ``code`` enum holds the core's codes and every feature's."""
    app = _app()
    codes = app.state.node.error_codes
    doc = openapi.document(app.routes, codes=codes)
    listed = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
    assert listed["enum"] == [code.value for code in codes]
    assert {"not_found", "sold_out", "invalid_quantity", "cards_full"} <= set(listed["enum"])
