"""Lucky bags over the WebSocket protocol and the HTTP API of a real server (memory engine)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.liveclient import LiveClient, token
from tests.servers import API_KEY, ServerProcess
from tests.timeouts import eventually

_rooms = itertools.count(1)
RULES = {"prize": "Mug", "value_fen": 1000, "winners": 1, "duration_s": 60}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    """One server for the module; each test has rooms of its own."""
    proc = ServerProcess(engine="memory", pulse_s=0.2, user_comment_limit=1000).start()
    yield proc
    proc.stop()


@pytest.fixture
def room() -> str:
    return f"bag{next(_rooms)}"


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        yield client


@pytest.fixture
async def clients() -> AsyncIterator[list[LiveClient]]:
    opened: list[LiveClient] = []
    yield opened
    for client in opened:
        await client.close()


async def connect(
    server: ServerProcess, clients: list[LiveClient], room: str, user: str | None, **kw: Any
) -> LiveClient:
    client = await LiveClient.connect(server.ws_url, room=room, user=user, **kw)
    clients.append(client)
    await client.event("snapshot")
    return client


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def open_bag(http: httpx.AsyncClient, room: str, **rules: Any) -> dict[str, Any]:
    reply = await http.post(
        f"/api/rooms/{room}/bags", json={**RULES, "open": True, **rules}, headers=bearer(API_KEY)
    )
    assert reply.status_code == 200, reply.text
    return reply.json()["bag"]  # type: ignore[no-any-return]


def code_of(reply: dict[str, Any]) -> str:
    assert reply["ok"] is False, reply
    return str(reply["error"]["code"])


async def test_viewers_cannot_run_host_actions(server, clients, room, http) -> None:  # type: ignore[no-untyped-def]
    """Viewer sends host commands: forbidden each time, and the connection lives on."""
    bag = await open_bag(http, room)
    alice = await connect(server, clients, room, "alice")
    assert code_of(await alice.command("bag_create", **RULES)) == "forbidden"
    for kind in ("bag_open", "bag_draw", "bag_revoke"):
        assert code_of(await alice.command(kind, bag=bag["id"])) == "forbidden"
    assert (await alice.command("ping"))["ok"] is True
    refused = await http.post(
        f"/api/rooms/{room}/bags/{bag['id']}/draw", headers=bearer(token("alice", room))
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"


async def test_unknown_and_malformed_bag_ids(server, clients, room, http) -> None:  # type: ignore[no-untyped-def]
    """An unknown bag id is not_found; a malformed one bad_request; over WS and HTTP."""
    host = await connect(server, clients, room, "host1", role="host")
    for kind in ("bag_join", "bag_open", "bag_draw", "bag_revoke"):
        assert code_of(await host.command(kind, bag="bag-nope")) == "not_found"
    assert code_of(await host.command("bag_join", bag="no spaces!")) == "bad_request"
    assert code_of(await host.command("bag_join")) == "bad_request"
    missing = await http.get(f"/api/rooms/{room}/bags/bag-nope", headers=bearer(API_KEY))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    proof = await http.get(f"/api/rooms/{room}/bags/bag-nope/proof", headers=bearer(API_KEY))
    assert proof.status_code == 404


async def test_joining_closed_bags(server, clients, room, http) -> None:  # type: ignore[no-untyped-def]
    """A bag not open yet answers not_started; a drawn or revoked one, ended."""
    host = await connect(server, clients, room, "host1", role="host")
    alice = await connect(server, clients, room, "alice")
    created = (await host.command("bag_create", **RULES))["bag"]
    assert code_of(await alice.command("bag_join", bag=created["id"])) == "not_started"
    await host.command("bag_revoke", bag=created["id"])
    assert code_of(await alice.command("bag_join", bag=created["id"])) == "ended"
    drawn = await open_bag(http, room)
    assert (await host.command("bag_draw", bag=drawn["id"]))["ok"] is True
    assert code_of(await alice.command("bag_join", bag=drawn["id"])) == "ended"
    assert code_of(await host.command("bag_revoke", bag=drawn["id"])) == "conflict"
    assert code_of(await host.command("bag_draw", bag=drawn["id"])) == "conflict"


async def test_bad_rules_are_refused(server, clients, room, http) -> None:  # type: ignore[no-untyped-def]
    """Prize over the cap, missing fields and unknown fields each get a clear code."""
    over = await http.post(
        f"/api/rooms/{room}/bags", json={**RULES, "value_fen": 5_000_001}, headers=bearer(API_KEY)
    )
    assert over.status_code == 400 and over.json()["error"]["code"] == "prize_over_cap"
    for bad in ({**RULES, "duration_s": 0}, {"prize": "x"}, {**RULES, "join": "keyword"}):
        reply = await http.post(f"/api/rooms/{room}/bags", json=bad, headers=bearer(API_KEY))
        assert reply.json()["error"]["code"] == "bad_request", bad
    odd = await http.post(
        f"/api/rooms/{room}/bags", json={**RULES, "winnerz": 3}, headers=bearer(API_KEY)
    )
    assert odd.json()["error"]["code"] == "bad_request"
    host = await connect(server, clients, room, "host1", role="host")
    assert code_of(await host.command("bag_create", **{**RULES, "value_fen": -1})) == "bad_request"
    assert code_of(await host.command("bag_create", **{**RULES, "value_fen": 10**9})) == (
        "prize_over_cap"
    )


async def test_anonymous_viewers_cannot_join(server, clients, room, http) -> None:  # type: ignore[no-untyped-def]
    """An anonymous read-only viewer is told to sign in."""
    bag = await open_bag(http, room)
    guest = await connect(server, clients, room, None)
    assert code_of(await guest.command("bag_join", bag=bag["id"])) == "read_only"


async def test_keyword_comment_joins_over_the_wire(server, clients, room, http) -> None:  # type: ignore[no-untyped-def]
    """Sending the keyword comment joins; the sender hears it privately; counts reach viewers."""
    bag = await open_bag(http, room, join="keyword", keyword="抢福袋")
    alice = await connect(server, clients, room, "alice")
    bob = await connect(server, clients, room, "bob")
    seen = await bob.event("bag_mine")
    assert (seen["bag"], seen["joined"]) == (bag["id"], False)
    assert (await alice.command("comment", text="抢福袋"))["ok"] is True
    mine = await alice.event("bag_mine", joined=True)
    assert mine["bag"] == bag["id"] and mine["count"] == 1
    assert code_of(await bob.command("bag_join", bag=bag["id"])) == "bad_request"
    await bob.command("comment", text="抢福袋")
    await alice.event("bag_count", count=2)
    again = await LiveClient.connect(server.ws_url, room=room, user="alice")
    clients.append(again)
    snapshot = await again.event("snapshot")
    assert snapshot["bag"]["id"] == bag["id"] and snapshot["bag"]["count"] == 2
    assert (await again.event("bag_mine"))["joined"] is True


async def test_list_get_and_proof(server, clients, room, http) -> None:  # type: ignore[no-untyped-def]
    """Viewers read bags and, after the draw, the seed and participants."""
    bag = await open_bag(http, room, winners=2)
    viewer = bearer(token("alice", room))
    for user in ("alice", "bob", "carol"):
        joined = await http.post(
            f"/api/rooms/{room}/bags/{bag['id']}/join", json={"user": user}, headers=bearer(API_KEY)
        )
        assert joined.status_code == 200
    before = (await http.get(f"/api/rooms/{room}/bags/{bag['id']}/proof", headers=viewer)).json()
    assert before["seed"] is None and before["participants"] == ["alice", "bob", "carol"]
    drawn = await http.post(f"/api/rooms/{room}/bags/{bag['id']}/draw", headers=bearer(API_KEY))
    assert drawn.json()["bag"]["state"] == "drawn"
    listed = (await http.get(f"/api/rooms/{room}/bags", headers=viewer)).json()["bags"]
    assert [b["id"] for b in listed] == [bag["id"]]
    after = (await http.get(f"/api/rooms/{room}/bags/{bag['id']}/proof", headers=viewer)).json()
    assert after["seed"] and after["result"] == [w["id"] for w in listed[0]["winner_list"]]
    assert "sha256" in after["recipe"]


async def test_stay_to_win_leaves_out_who_left(server, clients, room, http) -> None:  # type: ignore[no-untyped-def]
    """In a must_stay bag, a participant who disconnected before the draw cannot win."""
    bag = await open_bag(http, room, winners=5, must_stay=True)
    alice = await connect(server, clients, room, "alice")
    bob = await connect(server, clients, room, "bob")
    for client in (alice, bob):
        assert (await client.command("bag_join", bag=bag["id"]))["ok"] is True
    await bob.close()
    clients.remove(bob)

    async def online() -> int:
        stats = await http.get(f"/api/rooms/{room}/stats", headers=bearer(API_KEY))
        return int(stats.json()["online"])

    await eventually(lambda: _is(online(), 1))
    drawn = await http.post(f"/api/rooms/{room}/bags/{bag['id']}/draw", headers=bearer(API_KEY))
    assert [w["id"] for w in drawn.json()["bag"]["winner_list"]] == ["alice"]
    proof = (
        await http.get(f"/api/rooms/{room}/bags/{bag['id']}/proof", headers=bearer(API_KEY))
    ).json()
    assert proof["ineligible"] == {"bob": "absent"}
    assert (await alice.event("bag_won"))["bag"] == bag["id"]


async def _is(value: Any, expected: Any) -> bool:
    return bool(await value == expected)
