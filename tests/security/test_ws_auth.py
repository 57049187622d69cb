"""WebSocket auth and abuse: each attack is refused with its documented code (docs/security.md)."""

from __future__ import annotations

import asyncio
import time

import jwt
import pytest

from liveroom.errors import CloseCode
from tests.liveclient import LiveClient, token
from tests.security.conftest import SHOP_ORIGIN
from tests.servers import API_KEY, SECRET, ServerProcess


def _jwt(user: str, room: str = "r1", role: str = "viewer", exp: float = 3600.0) -> str:
    """A token whose ``exp`` is ``exp`` seconds from now, to the sub-second."""
    claims = {"sub": user, "name": user, "role": role, "room": room, "exp": time.time() + exp}
    return jwt.encode(claims, SECRET, algorithm="HS256")


async def _refused(server: ServerProcess, **connect: object) -> tuple[int | None, str, list]:
    client = await LiveClient.connect(server.ws_url, **connect)  # type: ignore[arg-type]
    try:
        code, reason = await client.closed_with()
        return code, reason, [e.get("code") for e in client.of_type("error")]
    finally:
        await client.close()


async def test_viewer_cannot_send_host_commands(guarded: ServerProcess) -> None:
    """A viewer's host command is answered ``forbidden``, and the connection lives on."""
    viewer = await LiveClient.connect(guarded.ws_url, user="vic", room="r1")
    try:
        await viewer.event("snapshot")
        for kind, fields in (("system", {"text": "hi"}), ("mute", {"user": "bob"})):
            answer = await viewer.command(kind, **fields)
            assert answer["ok"] is False and answer["error"]["code"] == "forbidden"
        assert (await viewer.command("ping"))["ok"] is True
    finally:
        await viewer.close()


async def test_token_for_another_room_is_refused(guarded: ServerProcess) -> None:
    """A token for room A opening room B is closed with 4003 after a ``forbidden`` error."""
    code, _, errors = await _refused(guarded, room="roomB", tok=token("eve", room="roomA"))
    assert code == CloseCode.WRONG_ROOM
    assert errors == ["forbidden"]


async def test_expired_token_closes_a_live_connection(guarded: ServerProcess) -> None:
    """A connection outliving its token is closed with 4011 when the token expires. (The token
    lasts 4 s: with 1 s, a connect slowed by a loaded machine found it expired already, and was
    refused before any welcome, as ``test_expired_token_cannot_connect`` checks.)"""
    client = await LiveClient.connect(guarded.ws_url, tok=_jwt("tim", exp=4.0))
    try:
        await client.event("welcome")
        code, _ = await client.closed_with(timeout=15)
        assert code == CloseCode.TOKEN_EXPIRED
    finally:
        await client.close()


async def test_expired_token_cannot_connect(guarded: ServerProcess) -> None:
    """A token already expired is refused at connect with 4011."""
    code, _, errors = await _refused(guarded, tok=_jwt("old", exp=-5))
    assert code == CloseCode.TOKEN_EXPIRED
    assert errors == ["unauthorized"]


async def test_refresh_keeps_the_connection_past_the_old_expiry(guarded: ServerProcess) -> None:
    """After a ``refresh`` with a fresh token the connection outlives the first token."""
    first_exp = time.time() + 1.5
    client = await LiveClient.connect(guarded.ws_url, tok=_jwt("ria", exp=1.5))
    try:
        await client.event("snapshot")
        answer = await client.command("refresh", token=_jwt("ria", exp=3600))
        assert answer["ok"] is True and answer["expires"] > first_exp + 3000
        # Wait for the close that must not come, until the first token is well past its expiry.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.closed_with(), first_exp + 0.5 - time.time())
        assert (await client.command("ping"))["ok"] is True
    finally:
        await client.close()


async def test_refresh_for_another_user_is_refused(guarded: ServerProcess) -> None:
    """A ``refresh`` carrying someone else's token is answered ``forbidden``; nothing changes."""
    client = await LiveClient.connect(guarded.ws_url, user="ann")
    try:
        await client.event("snapshot")
        answer = await client.command("refresh", token=_jwt("mallory", role="admin"))
        assert answer["ok"] is False and answer["error"]["code"] == "forbidden"
        denied = await client.command("system", text="still a viewer")
        assert denied["error"]["code"] == "forbidden"
    finally:
        await client.close()


async def test_refresh_with_a_forged_token_is_refused(guarded: ServerProcess) -> None:
    """A ``refresh`` carrying a forged token is answered ``unauthorized``."""
    client = await LiveClient.connect(guarded.ws_url, user="ann")
    try:
        await client.event("snapshot")
        forged = jwt.encode({"sub": "ann", "exp": time.time() + 60}, "x" * 32, algorithm="HS256")
        answer = await client.command("refresh", token=forged)
        assert answer["ok"] is False and answer["error"]["code"] == "unauthorized"
    finally:
        await client.close()


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param(
            jwt.encode({"sub": "eve", "exp": time.time() + 600}, "n" * 32, algorithm="HS256"),
            id="other-secret",
        ),
        pytest.param(
            jwt.encode({"sub": "eve", "role": "admin", "exp": time.time() + 600}, None, "none"),
            id="alg-none",
        ),
        pytest.param(token("eve")[:-4] + "AAAA", id="tampered-signature"),
        pytest.param(API_KEY, id="api-key"),
    ],
)
async def test_forged_token_is_refused(guarded: ServerProcess, forged: str) -> None:
    """Forged, unsigned or tampered tokens, and the backend's API key, are closed with 4001."""
    code, _, errors = await _refused(guarded, tok=forged)
    assert code == CloseCode.AUTH_FAILED
    assert errors == ["unauthorized"]


async def test_disallowed_origin_is_refused(guarded: ServerProcess) -> None:
    """A browser page from an origin off the allowlist is closed with 4004."""
    code, _, errors = await _refused(guarded, user="ola", origin="https://evil.example")
    assert code == CloseCode.ORIGIN_NOT_ALLOWED
    assert errors == ["forbidden"]


async def test_allowed_origin_is_served(guarded: ServerProcess) -> None:
    """A page from an allowed origin gets its snapshot."""
    client = await LiveClient.connect(guarded.ws_url, user="ola", origin=SHOP_ORIGIN)
    try:
        await client.event("snapshot")
    finally:
        await client.close()


async def test_command_flood_is_rate_limited_then_closed(guarded: ServerProcess) -> None:
    """Past its burst a connection gets ``rate_limited`` replies, then a 4029 close."""
    client = await LiveClient.connect(guarded.ws_url, user="flo")
    try:
        await client.event("snapshot")
        for n in range(200):
            await client.send_raw(f'{{"type":"ping","id":"f{n}"}}')
        code, _ = await client.closed_with()
        assert code == CloseCode.FLOOD
        limited = [r for r in client.replies.values() if not r["ok"]]
        assert limited and all(r["error"]["code"] == "rate_limited" for r in limited)
        assert all(r["error"]["retry"] is True for r in limited)
    finally:
        await client.close()


async def test_oversized_frame_is_closed_with_1009(guarded: ServerProcess) -> None:
    """A frame over ``max_frame_bytes`` closes the connection with 1009."""
    client = await LiveClient.connect(guarded.ws_url, user="big")
    try:
        await client.event("snapshot")
        await client.send_raw('{"type":"comment","id":"x","text":"' + "a" * 8000 + '"}')
        code, _ = await client.closed_with()
        assert code == CloseCode.MESSAGE_TOO_BIG
    finally:
        await client.close()


async def test_server_lives_on_after_every_refusal(guarded: ServerProcess) -> None:
    """After the attacks above the same process still serves a fresh viewer."""
    client = await LiveClient.connect(guarded.ws_url, user="after")
    try:
        await client.event("snapshot")
        assert (await client.command("comment", text="still here"))["ok"] is True
    finally:
        await client.close()
