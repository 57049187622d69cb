"""Tokens a backend makes with the client: the server accepts them on a real WebSocket."""

from __future__ import annotations

import time
from typing import Any

import pytest

from liveroom.client import LiveroomClient, mint_token
from tests.client.conftest import watch
from tests.liveclient import LiveClient
from tests.servers import SECRET, ServerProcess


async def test_minted_token_opens_a_websocket(
    server: ServerProcess, lr: LiveroomClient, room: str, viewers: list[LiveClient]
) -> None:
    """A token minted with the secret connects, and comments carry its user id and name."""
    token = lr.tokens.mint("u-1", room=room, name="小王", ttl_s=600)
    viewer = await watch(server, room, token, viewers)
    reply = await viewer.command("comment", text="hello")
    assert reply["ok"] is True, reply
    comment = await viewer.event("comment")
    assert comment["user"] == {"id": "u-1", "name": "小王"}


async def test_token_for_several_rooms_opens_each(
    server: ServerProcess, room: str, viewers: list[LiveClient]
) -> None:
    """One token naming two rooms opens both."""
    other = room + "-b"
    token = mint_token(SECRET, "u-2", room=[room, other])
    for name in (room, other):
        snapshot = (await watch(server, name, token, viewers)).of_type("snapshot")[0]
        assert snapshot["room"]["id"] == name


async def test_host_token_may_call_host_endpoints(
    server: ServerProcess, lr: LiveroomClient, room: str
) -> None:
    """A host token used as the client's credential may post a system message in its room."""
    token = lr.tokens.mint("host-1", room=room, role="host")
    async with LiveroomClient(server.url, api_key=token) as host:
        assert await host.rooms.system_message(room, "welcome") > 0


async def test_issued_token_opens_a_websocket(
    server: ServerProcess, lr: LiveroomClient, room: str, viewers: list[LiveClient]
) -> None:
    """A token the server signs (POST /api/tokens) connects, and says when it expires."""
    issued = await lr.tokens.issue("u-3", room=room, ttl_s=120)
    assert time.time() + 100 < issued.expires < time.time() + 130
    viewer = await watch(server, room, issued.token, viewers)
    assert viewer.closed is None


@pytest.mark.parametrize(
    "claims",
    [
        {"user": "bad user", "room": "r1"},
        {"user": "u", "room": "bad/room"},
        {"user": "u", "room": []},
        {"user": "u", "room": "r1", "role": "owner"},
        {"user": "u", "room": "r1", "ttl_s": 0},
        {"user": "u", "room": "r1", "name": ""},
    ],
)
def test_mint_token_refuses_claims_the_server_would(claims: dict[str, Any]) -> None:
    """Claims the server would refuse raise ValueError at minting, not at the viewer's join."""
    with pytest.raises(ValueError):
        mint_token(SECRET, **claims)


async def test_mint_needs_the_secret() -> None:
    """A client made without the secret cannot mint, and says to use issue()."""
    async with LiveroomClient("http://127.0.0.1:9", api_key="k") as client:
        with pytest.raises(ValueError, match="issue"):
            client.tokens.mint("u", room="r1")
