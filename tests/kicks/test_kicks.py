"""A kicked user is closed on every node and kept out until the kick ends, fresh or resuming; a
muted user stays muted across resumes and nodes."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import pytest

from liveroom.errors import CloseCode
from tests.liveclient import LiveClient
from tests.servers import API_KEY, ServerProcess
from tests.timeouts import eventually

KICK_S = 3
AUTH = {"authorization": f"Bearer {API_KEY}"}


@dataclass
class Attempt:
    """One connection attempt: refused (``code``, ``error``) or admitted (``client``)."""

    code: int | None
    error: dict
    client: LiveClient | None


async def _attempt(
    ws_url: str, room: str, user: str, held: tuple[int, str] | None = None
) -> Attempt:
    offset, epoch = held if held is not None else (None, None)
    client = await LiveClient.connect(ws_url, room, user, offset=offset, epoch=epoch)
    joined = ("snapshot", "resumed")
    await client.wait(lambda: client.closed or any(client.of_type(k) for k in joined), 10)
    if client.closed is None:
        return Attempt(None, {}, client)
    errors = client.of_type("error")
    assert not client.of_type("snapshot"), "a refused client must not see the room"
    return Attempt(client.closed[0], errors[0] if errors else {}, None)


Nodes = tuple[ServerProcess, ServerProcess]


def _nodes(engine: str, start_server, request: pytest.FixtureRequest) -> Nodes:  # type: ignore[no-untyped-def]
    """Two nodes on one Redis; on the memory engine, one node standing for both."""
    if engine == "memory":
        node = start_server(engine="memory")
        return node, node
    settings = request.getfixturevalue("redis_server_settings")
    return start_server(**settings), start_server(**settings)


@pytest.mark.parametrize("engine", ["memory", "redis"])
async def test_a_kick_closes_every_connection_and_keeps_the_user_out_until_it_ends(
    engine: str, start_server, request: pytest.FixtureRequest
) -> None:  # type: ignore[no-untyped-def]
    """Kicked on node a, the user's connections on a and b get ``kicked`` and close 4031; fresh
    joins and resumes are refused 4031 with the time left until the kick ends, then admitted."""
    a, b = _nodes(engine, start_server, request)
    host = await LiveClient.connect(a.ws_url, "k1", "boss", role="host")
    on_a = await LiveClient.connect(a.ws_url, "k1", "victim")
    on_b = await LiveClient.connect(b.ws_url, "k1", "victim")
    bystander = await LiveClient.connect(b.ws_url, "k1", "other")
    for client in (host, on_a, on_b, bystander):
        await client.event("snapshot")
    await host.command("system", text="before")
    await on_b.event("system", text="before")
    held = on_b.position()

    answer = await host.command("kick", user="victim", seconds=KICK_S)
    assert answer["ok"] is True, answer
    until = answer["until"]
    for client in (on_a, on_b):
        code, _ = await client.closed_with()
        assert code == CloseCode.KICKED
        kicked = client.of_type("kicked")
        assert kicked and kicked[0]["until"] == until and kicked[0]["retry_after"] == KICK_S

    for url, position in ((a.ws_url, None), (b.ws_url, held), (a.ws_url, held)):
        refused = await _attempt(url, "k1", "victim", position)
        assert refused.code == CloseCode.KICKED, (url, position, refused)
        assert refused.error["code"] == "forbidden"
        assert 0 < refused.error["retry_after"] <= KICK_S

    await host.command("system", text="after")
    await bystander.event("system", text="after")
    assert bystander.closed is None, "only the kicked user is closed"

    async def admitted() -> Attempt | None:
        attempt = await _attempt(b.ws_url, "k1", "victim", held)
        return attempt if attempt.client is not None else None

    back = await eventually(admitted, timeout=KICK_S + 10, interval=0.2)
    assert time.time() >= until - 0.05, "admitted before the kick ended"
    assert back.client is not None
    await back.client.event("resumed")
    assert [e["text"] for e in back.client.of_type("system")] == ["after"]
    for client in (host, bystander, back.client):
        await client.close()


async def test_the_backend_kicks_lists_and_lifts_kicks_over_http(start_server) -> None:  # type: ignore[no-untyped-def]
    """``POST /kicks`` closes the user (4031) and refuses them; ``DELETE`` lets them back at
    once; a viewer may not kick."""
    server = start_server(engine="memory")
    victim = await LiveClient.connect(server.ws_url, "k2", "victim")
    viewer = await LiveClient.connect(server.ws_url, "k2", "someone")
    await victim.event("snapshot")
    await viewer.event("snapshot")
    refused = await viewer.command("kick", user="victim", seconds=60)
    assert refused["ok"] is False and refused["error"]["code"] == "forbidden"

    url = server.url + "/api/rooms/k2/kicks"
    posted = httpx.post(url, json={"user": "victim", "seconds": 600}, headers=AUTH)
    assert posted.status_code == 200, posted.text
    assert (await victim.closed_with())[0] == CloseCode.KICKED
    listed = httpx.get(url, headers=AUTH).json()["kicked"]
    assert list(listed) == ["victim"] and listed["victim"] == posted.json()["until"]
    again = await _attempt(server.ws_url, "k2", "victim")
    assert again.code == CloseCode.KICKED and 590 < again.error["retry_after"] <= 600
    bad = httpx.post(url, json={"user": "victim", "seconds": 0}, headers=AUTH)
    assert bad.status_code == 400

    assert httpx.delete(url + "/victim", headers=AUTH).status_code == 200
    back = await _attempt(server.ws_url, "k2", "victim")
    assert back.client is not None, "let back in at once"
    for client in (viewer, back.client):
        await client.close()


@pytest.mark.parametrize("engine", ["memory", "redis"])
async def test_a_muted_user_stays_muted_across_a_resume_and_on_another_node(
    engine: str, start_server, request: pytest.FixtureRequest
) -> None:  # type: ignore[no-untyped-def]
    """Muted on node a, the user resumes on node b with its offset and is still refused
    ``muted``; the host's comments still flow."""
    a, b = _nodes(engine, start_server, request)
    host = await LiveClient.connect(a.ws_url, "m1", "boss", role="host")
    muted = await LiveClient.connect(a.ws_url, "m1", "victim")
    await host.event("snapshot")
    await muted.event("snapshot")
    assert (await host.command("mute", user="victim", seconds=600))["ok"] is True
    first = await muted.command("comment", text="hello")
    assert first["ok"] is False and first["error"]["code"] == "muted"
    await host.command("system", text="while muted")
    await muted.event("system")
    offset, epoch = muted.position()
    await muted.close()

    resumed = await LiveClient.connect(b.ws_url, "m1", "victim", offset=offset, epoch=epoch)
    await resumed.event("resumed")
    again = await resumed.command("comment", text="hello again")
    assert again["ok"] is False and again["error"]["code"] == "muted"
    fresh = await LiveClient.connect(b.ws_url, "m1", "victim")
    await fresh.event("snapshot")
    assert (await fresh.command("comment", text="and fresh"))["error"]["code"] == "muted"
    posted = await host.command("comment", text="the host still talks")
    assert posted["ok"] is True
    for client in (host, resumed, fresh):
        await client.close()
