"""Tokens: each refusal has its close code, sent after an ``error`` event that names it."""

from __future__ import annotations

import time

import pytest

from liveroom import auth
from tests.liveclient import LiveClient, token
from tests.servers import SECRET, ServerProcess


async def _refused(server: ServerProcess, room: str, tok: str) -> tuple[int | None, dict]:
    client = await LiveClient.connect(server.ws_url, room, None, tok=tok)
    code, _ = await client.closed_with()
    errors = client.of_type("error")
    assert not client.of_type("snapshot"), "a refused client must not see the room"
    return code, errors[0] if errors else {}


async def test_expired_token_closes_4011(server: ServerProcess, room: str) -> None:
    """A token past its expiry is refused with close 4011 (token expired)."""
    old = auth.mint(SECRET, "alice", room=room, ttl_s=60, now=time.time() - 3600)
    code, error = await _refused(server, room, old)
    assert code == 4011
    assert error["code"] == "unauthorized"


async def test_forged_token_closes_4001(server: ServerProcess, room: str) -> None:
    """A token signed with another secret is refused with close 4001."""
    forged = auth.mint("not-the-server-secret-0123456789abcdef", "mallory", room=room, role="host")
    code, error = await _refused(server, room, forged)
    assert code == 4001
    assert error["code"] == "unauthorized"


async def test_garbage_token_closes_4001(server: ServerProcess, room: str) -> None:
    """Something that is not a JWT at all is refused with close 4001."""
    code, _ = await _refused(server, room, "not.a.token")
    assert code == 4001


async def test_token_for_another_room_closes_4003(server: ServerProcess, room: str) -> None:
    """A valid token for room A used in room B is refused with close 4003."""
    code, error = await _refused(server, room, token("alice", room + "-other"))
    assert code == 4003
    assert error["code"] == "forbidden"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("expired", 4011), ("forged", 4001), ("garbage", 4001), ("other-room", 4003)],
)
async def test_a_resume_verifies_its_token_as_a_fresh_join_does(
    server: ServerProcess, room: str, kind: str, expected: int
) -> None:
    """An offset skips the snapshot, never a check: a resume with a bad token is refused with
    the same close code as a fresh join."""
    viewer = await LiveClient.connect(server.ws_url, room, "alice")
    await viewer.event("snapshot")
    held, epoch = viewer.position()
    await viewer.close()
    tokens = {
        "expired": auth.mint(SECRET, "alice", room=room, ttl_s=60, now=time.time() - 3600),
        "forged": auth.mint("not-the-server-secret-0123456789abcdef", "alice", room=room),
        "garbage": "not.a.token",
        "other-room": token("alice", room + "-other"),
    }
    client = await LiveClient.connect(
        server.ws_url, room, None, offset=held, tok=tokens[kind], epoch=epoch
    )
    code, _ = await client.closed_with()
    assert code == expected
    assert not client.of_type("resumed") and not client.of_type("snapshot")
    assert client.of_type("error"), "the refusal names its reason"


async def test_token_expiring_on_live_connection_closes_4011(
    server: ServerProcess, room: str
) -> None:
    """A connection whose token runs out while it is open is closed with 4011."""
    short = auth.mint(SECRET, "alice", room=room, ttl_s=2)
    client = await LiveClient.connect(server.ws_url, room, None, tok=short)
    await client.event("snapshot")
    code, _ = await client.closed_with(timeout=8)
    assert code == 4011


async def test_anonymous_viewer_reads_but_cannot_write(server: ServerProcess, room: str) -> None:
    """Without a token (room allows anonymous) a viewer gets the room, and ``read_only``."""
    anon = await LiveClient.connect(server.ws_url, room, None)
    alice = await LiveClient.connect(server.ws_url, room, "alice")
    await anon.event("snapshot")
    answer = await anon.command("comment", text="hi")
    assert answer["error"]["code"] == "read_only"
    await alice.command("comment", text="for everyone")
    await anon.event("comment", text="for everyone")
    await anon.close()
    await alice.close()


async def test_welcome_names_role_and_protocol(server: ServerProcess, room: str) -> None:
    """The first event is ``welcome`` with protocol version 1, the role and the user."""
    host = await LiveClient.connect(server.ws_url, room, "hana", role="host")
    welcome = await host.event("welcome")
    assert host.events[0]["type"] == "welcome"
    assert welcome["protocol"] == 1
    assert welcome["role"] == "host"
    assert welcome["user"]["id"] == "hana"
    await host.close()


async def test_refusal_error_comes_as_a_text_frame(server: ServerProcess, room: str) -> None:
    """The refusal's ``error`` event is a text frame, which a browser's ``JSON.parse`` reads."""
    client = await LiveClient.connect(server.ws_url, room, None, tok="not.a.token")
    code, _ = await client.closed_with(timeout=5)
    assert client.binary_messages == 0, "the refusal was sent as a binary frame"
    assert client.text_messages == 1 and client.events[0]["type"] == "error"
    assert code == 4001
