"""HTTP API auth: API keys and tokens are different things, roles and rooms are checked."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from tests.liveclient import token
from tests.servers import API_KEY, SECRET, ServerProcess


def _call(
    server: ServerProcess,
    method: str,
    path: str,
    credential: str | None,
    headers: dict[str, str] | None = None,
    **kw: object,
) -> httpx.Response:
    headers = dict(headers or {})
    if credential is not None:
        headers["authorization"] = f"Bearer {credential}"
    return httpx.request(method, server.url + path, headers=headers, timeout=5, **kw)  # type: ignore[arg-type]


def _code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def test_viewer_token_cannot_call_host_endpoints(guarded: ServerProcess) -> None:
    """A viewer token on a host endpoint is answered 403 ``forbidden``."""
    viewer = token("vic", room="r1")
    answer = _call(guarded, "POST", "/api/rooms/r1/system", viewer, json={"text": "x"})
    assert (answer.status_code, _code(answer)) == (403, "forbidden")
    answer = _call(guarded, "GET", "/api/rooms/r1/stats", viewer)
    assert (answer.status_code, _code(answer)) == (403, "forbidden")


def test_host_token_for_another_room_is_refused(guarded: ServerProcess) -> None:
    """A host token for room A calling room B's endpoints is answered 403 ``forbidden``."""
    host = token("hal", room="roomA", role="host")
    answer = _call(guarded, "POST", "/api/rooms/roomB/system", host, json={"text": "x"})
    assert (answer.status_code, _code(answer)) == (403, "forbidden")
    assert _call(guarded, "GET", "/api/rooms/roomA/stats", host).status_code == 200


def test_host_token_cannot_mint_tokens(guarded: ServerProcess) -> None:
    """Minting tokens takes the backend's API key; even an admin token gets 403."""
    admin = token("ada", room="*", role="admin")
    answer = _call(guarded, "POST", "/api/tokens", admin, json={"user": "x"})
    assert (answer.status_code, _code(answer)) == (403, "forbidden")
    assert _call(guarded, "POST", "/api/tokens", API_KEY, json={"user": "x"}).status_code == 200


@pytest.mark.parametrize(
    "credential",
    [
        pytest.param(None, id="none"),
        pytest.param(API_KEY + "x", id="wrong-key"),
        pytest.param(API_KEY[:-1], id="key-prefix"),
        pytest.param(
            jwt.encode({"sub": "eve", "role": "admin", "exp": time.time() + 60}, "k" * 32, "HS256"),
            id="forged-token",
        ),
    ],
)
def test_wrong_credentials_are_refused(guarded: ServerProcess, credential: str | None) -> None:
    """A missing or wrong API key, or a forged token, is answered 401 ``unauthorized``."""
    answer = _call(guarded, "POST", "/api/rooms/r1/system", credential, json={"text": "x"})
    assert (answer.status_code, _code(answer)) == (401, "unauthorized")
    assert answer.json()["error"]["retry"] is False


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"role": ["admin"]}, id="role-a-list"),
        pytest.param({"role": {"admin": 1}}, id="role-an-object"),
        pytest.param({"exp": 10**400}, id="exp-past-every-float"),
    ],
)
def test_a_signed_token_with_malformed_claims_is_refused(
    guarded: ServerProcess, claims: dict[str, object]
) -> None:
    """A token signed with the server's secret whose claims have the wrong types (a buggy
    backend) is refused 401 like any bad token, not answered 500."""
    credential = jwt.encode({"sub": "bob", "exp": time.time() + 60, **claims}, SECRET, "HS256")
    answer = _call(guarded, "POST", "/api/rooms/r1/system", credential, json={"text": "x"})
    assert (answer.status_code, _code(answer)) == (401, "unauthorized")


def test_api_key_opens_every_room(guarded: ServerProcess) -> None:
    """The backend's API key is good for any room's host endpoints."""
    for room in ("r1", "other-room"):
        answer = _call(guarded, "POST", f"/api/rooms/{room}/system", API_KEY, json={"text": "x"})
        assert answer.status_code == 200, answer.text


def test_responses_carry_a_request_id(guarded: ServerProcess) -> None:
    """Every response names its request id: the caller's when sane, a fresh one otherwise."""
    mine = _call(guarded, "GET", "/healthz", None, headers={"x-request-id": "shop-42"})
    assert mine.headers["x-request-id"] == "shop-42"
    odd = _call(guarded, "GET", "/healthz", None, headers={"x-request-id": "a b" * 40})
    assert odd.headers["x-request-id"] != "" and " " not in odd.headers["x-request-id"]
