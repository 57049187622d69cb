"""Red packets through real server processes: the grab race, keyword packets, refusals."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from tests.liveclient import LiveClient, token
from tests.servers import API_KEY
from tests.timeouts import scaled

BACKEND = {"authorization": f"Bearer {API_KEY}"}


def bearer(user: str, room: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token(user, room)}"}


class KeepAlive:
    """A bare HTTP/1.1 keep-alive connection: far cheaper per request than httpx, so a few
    hundred grabs do not spend the shared test machine's CPU in the client."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> KeepAlive:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def post(self, path: str, bearer_token: str) -> tuple[int, dict[str, Any]]:
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {bearer_token}\r\n"
            "Content-Length: 0\r\n\r\n".encode()
        )
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode().lower().split("\r\n")
        length = next(int(h.split(":")[1]) for h in head if h.startswith("content-length:"))
        return int(head[0].split()[1]), orjson.loads(await self.reader.readexactly(length))

    def close(self) -> None:
        self.writer.close()


def packets_seen(client: LiveClient) -> dict[str, int]:
    """Packets left per red packet, from the snapshot and the events after it.

    A snapshot may be up to a tick old (joins within a tick share one), so a client combines
    it with the ``packet`` events that follow; ``left`` only goes down.
    """
    left: dict[str, int] = {}
    states = [p for e in client.of_type("snapshot") for p in e["packets"]]
    states += [e["packet"] for e in client.of_type("packet")]
    for p in states:
        left[p["id"]] = min(left.get(p["id"], p["left"]), p["left"])
    return left


async def connect_many(url: str, room: str, users: list[str]) -> list[LiveClient]:
    gate = asyncio.Semaphore(40)

    async def one(user: str) -> LiveClient:
        async with gate:
            client = await LiveClient.connect(url, room, user)
            await client.event("snapshot", timeout=20)
            return client

    return list(await asyncio.gather(*(one(u) for u in users)))


async def test_thousand_users_race_for_a_hundred_packets(
    start_server, redis_server_settings
) -> None:  # type: ignore[no-untyped-def]
    """1,000 users on two nodes (200 WebSocket, 800 HTTP) grab 100 packets: 100 wins, exact sum."""
    total, count = 123_456, 100
    settings = {**redis_server_settings, "max_conns_per_ip": 0, "admit_address_rate": 0}
    nodes = [start_server(**settings), start_server(**settings)]
    ws_users = [f"u{i}" for i in range(200)]
    http_users = [f"u{i}" for i in range(200, 1000)]
    order = ws_users[0::2] + ws_users[1::2]  # the users of ``clients``, in order
    clients = []
    for n, node in enumerate(nodes):
        clients += await connect_many(node.ws_url, "race", ws_users[n::2])
    try:
        host = clients[0]
        async with httpx.AsyncClient(
            limits=httpx.Limits(max_connections=60), timeout=httpx.Timeout(scaled(30), pool=None)
        ) as http:
            created = await http.post(
                nodes[1].url + "/api/rooms/race/packets",
                json={"total": total, "count": count, "title": "开播红包"},
                headers=BACKEND,
            )
            assert created.status_code == 200, created.text
            packet = created.json()["packet"]["id"]
            await host.event("packet", timeout=10)

            async def grab_ws(client: LiveClient, user: str, twice: bool) -> list[dict[str, Any]]:
                answers = [await client.command("packet_grab", packet=packet, timeout=20)]
                if twice:
                    answers.append(await client.command("packet_grab", packet=packet, timeout=20))
                return [{"user": user, **a} for a in answers]

            async def grab_http(i: int, users: list[str]) -> list[list[dict[str, Any]]]:
                conn = await KeepAlive.open(nodes[i % 2].port)
                out = []
                try:
                    for user in users:
                        status, body = await conn.post(
                            f"/api/rooms/race/packets/{packet}/grab", token(user, "race")
                        )
                        out.append([{"ok": status == 200, "user": user, **body}])
                finally:
                    conn.close()
                return out

            # 200 WebSocket users and 40 keep-alive HTTP connections of 20 users each, at once
            ws_results, http_results = await asyncio.gather(
                asyncio.gather(
                    *(
                        grab_ws(c, u, i < 50)
                        for i, (c, u) in enumerate(zip(clients, order, strict=True))
                    )
                ),
                asyncio.gather(*(grab_http(i, http_users[i::40]) for i in range(40))),
            )
            results = list(ws_results) + [g for conn in http_results for g in conn]
            details = await http.get(
                f"{nodes[0].url}/api/rooms/race/packets/{packet}", headers=BACKEND
            )
        answers = [a for group in results for a in group]
        firsts = [group[0] for group in results]
        wins = [a for a in firsts if a["ok"]]
        assert len(wins) == count
        assert sum(w["amount"] for w in wins) == total  # type: ignore[misc]
        assert all(w["amount"] >= 1 for w in wins)  # type: ignore[operator]
        codes = {a["error"]["code"] for a in answers if not a["ok"]}  # type: ignore[index]
        assert codes <= {"all_grabbed", "already_grabbed"}
        for group in results:
            if len(group) == 2 and group[0]["ok"]:
                assert group[1]["error"]["code"] == "already_grabbed"  # type: ignore[index]
                assert group[1]["error"]["amount"] == group[0]["amount"]  # type: ignore[index]

        audit = details.json()
        assert audit["audit"] == {
            "total": total,
            "grabbed_fen": total,
            "left_fen": 0,
            "refund_fen": 0,
            "balanced": True,
            "grabbed": count,
            "left": 0,
            "refunded": 0,
        }
        assert audit["grabbers"] == {w["user"]: w["amount"] for w in wins}  # one per user
        assert audit["packet"]["state"] == "finished"

        for client, group in zip(clients, results, strict=False):
            if group[0]["ok"]:
                notice = await client.event("packet_grabbed", packet=packet)
                assert notice["amount"] == group[0]["amount"]
        best = max(w["amount"] for w in wins)  # type: ignore[type-var]
        for client in (clients[0], clients[-1]):  # one viewer on each node
            finished = await client.wait(
                lambda c=client: [
                    e for e in c.of_type("packet") if e["packet"]["state"] == "finished"
                ],
                timeout=10,
            )
            assert finished[0]["packet"]["id"] == packet
            assert finished[0]["summary"]["grabbed"] == count
            assert finished[0]["summary"]["grabbed_fen"] == total
            assert finished[0]["summary"]["best"]["amount"] == best
    finally:
        await asyncio.gather(*(c.close() for c in clients))


async def test_keyword_packet_needs_the_comment(start_server) -> None:  # type: ignore[no-untyped-def]
    """Grab is keyword_required until the user comments the keyword; then it succeeds."""
    server = start_server()
    host = await LiveClient.connect(server.ws_url, "r1", "host1", role="host")
    bob = await LiveClient.connect(server.ws_url, "r1", "bob")
    try:
        await host.event("snapshot")
        await bob.event("snapshot")
        made = await host.command("packet_create", total=500, count=5, keyword="主播最帅")
        assert made["ok"] is True, made
        packet = made["packet"]["id"]
        shown = await bob.event("packet")
        assert shown["packet"]["keyword"] == "主播最帅"
        assert shown["packet"]["state"] == "open"
        refused = await bob.command("packet_grab", packet=packet)
        assert refused["error"]["code"] == "keyword_required"
        assert refused["error"]["keyword"] == "主播最帅"
        assert (await bob.command("comment", text="主播最帅"))["ok"] is True
        await bob.event("packet_unlocked", packet=packet)
        grabbed = await bob.command("packet_grab", packet=packet)
        assert grabbed["ok"] is True and 1 <= grabbed["amount"] <= 500
        assert (await bob.event("packet_grabbed"))["amount"] == grabbed["amount"]
        late = await LiveClient.connect(server.ws_url, "r1", "carol")
        try:
            await late.event("snapshot")
            await late.wait(lambda: packets_seen(late) == {packet: 4})
        finally:
            await late.close()
    finally:
        await host.close()
        await bob.close()


async def test_packet_refusals(start_server) -> None:  # type: ignore[no-untyped-def]
    """Viewers cannot create; unknown ids, early and late grabs each get their code."""
    server = start_server()
    host = await LiveClient.connect(server.ws_url, "r1", "host1", role="host")
    bob = await LiveClient.connect(server.ws_url, "r1", "bob")
    carol = await LiveClient.connect(server.ws_url, "r1", "carol")
    try:
        for client in (host, bob, carol):
            await client.event("snapshot")
        denied = await bob.command("packet_create", total=100, count=1)
        assert denied["error"]["code"] == "forbidden"
        bad = await host.command("packet_create", total=1, count=2)
        assert bad["error"]["code"] == "bad_request"
        assert (await bob.command("packet_grab", packet="nope"))["error"]["code"] == "not_found"
        assert (await bob.command("packet_grab", packet="../x"))["error"]["code"] == "bad_request"
        later = await host.command("packet_create", total=100, count=2, delay_s=600)
        early = await bob.command("packet_grab", packet=later["packet"]["id"])
        assert early["error"]["code"] == "not_started"
        assert early["error"]["open_at"] == later["packet"]["open_at"]
        assert later["packet"]["state"] == "scheduled"
        one = await host.command("packet_create", total=100, count=1)
        packet = one["packet"]["id"]
        assert (await bob.command("packet_grab", packet=packet))["amount"] == 100
        assert (await bob.command("packet_grab", packet=packet))["error"]["code"] == (
            "already_grabbed"
        )
        assert (await carol.command("packet_grab", packet=packet))["error"]["code"] == (
            "all_grabbed"
        )
        async with httpx.AsyncClient(base_url=server.url) as http:
            as_bob = bearer("bob", "r1")
            made = await http.post(
                "/api/rooms/r1/packets", json={"total": 9, "count": 1}, headers=as_bob
            )
            assert made.status_code == 403 and made.json()["error"]["code"] == "forbidden"
            missing = await http.post("/api/rooms/r1/packets/nope/grab", headers=as_bob)
            assert missing.status_code == 404
            assert missing.json()["error"]["code"] == "not_found"
            gone = await http.post(
                f"/api/rooms/r1/packets/{packet}/grab", headers=bearer("dave", "r1")
            )
            assert gone.status_code == 409 and gone.json()["error"]["code"] == "all_grabbed"
            audit = await http.get(f"/api/rooms/r1/packets/{packet}", headers=as_bob)
            assert audit.status_code == 403
        assert (await bob.command("ping"))["ok"] is True
        assert bob.closed is None and carol.closed is None
    finally:
        for client in (host, bob, carol):
            await client.close()


@pytest.mark.parametrize("engine", ["memory", "redis"])
async def test_host_closes_a_packet_and_gets_the_rest_back(
    engine: str, start_server, request: pytest.FixtureRequest
) -> None:  # type: ignore[no-untyped-def]
    """After one grab the host closes a 3-packet red packet: the room sees it finished with the
    refund, later grabs get ``ended``, the audit balances, and a viewer may not close."""
    redis = engine == "redis"
    server = start_server(
        **(request.getfixturevalue("redis_server_settings") if redis else {"engine": engine})
    )
    host = await LiveClient.connect(server.ws_url, "r1", "host1", role="host")
    bob = await LiveClient.connect(server.ws_url, "r1", "bob")
    carol = await LiveClient.connect(server.ws_url, "r1", "carol")
    try:
        for client in (host, bob, carol):
            await client.event("snapshot")
        made = await host.command("packet_create", total=300, count=3)
        packet = made["packet"]["id"]
        grabbed = await bob.command("packet_grab", packet=packet)
        assert grabbed["ok"] is True
        denied = await bob.command("packet_close", packet=packet)
        assert denied["error"]["code"] == "forbidden"

        closed = await host.command("packet_close", packet=packet)
        assert closed["ok"] is True, closed
        assert closed["refund"] == {"fen": 300 - grabbed["amount"], "packets": 2}
        assert closed["packet"]["state"] == "finished" and closed["packet"]["left"] == 0
        assert closed["summary"]["grabbed_fen"] == grabbed["amount"]
        final = await carol.wait(
            lambda: next((e for e in carol.of_type("packet") if "refund" in e), None)
        )
        assert final["packet"]["id"] == packet and final["refund"] == closed["refund"]
        assert final["packet"]["state"] == "finished" and "closed_at" in final["packet"]

        late = await carol.command("packet_grab", packet=packet)
        assert late["error"]["code"] == "ended"
        again = await host.command("packet_close", packet=packet)
        assert again["refund"] == closed["refund"]
        missing = await host.command("packet_close", packet="nope")
        assert missing["error"]["code"] == "not_found"

        async with httpx.AsyncClient(base_url=server.url) as http:
            audit = (await http.get(f"/api/rooms/r1/packets/{packet}", headers=BACKEND)).json()
            assert audit["audit"]["balanced"] is True
            assert audit["audit"]["refund_fen"] == closed["refund"]["fen"]
            assert audit["audit"]["left_fen"] == 0
            listed = (await http.get("/api/rooms/r1/packets", headers=BACKEND)).json()
            assert packet not in [p["id"] for p in listed["packets"]]
            other = await host.command("packet_create", total=50, count=5)
            by_http = await http.post(
                f"/api/rooms/r1/packets/{other['packet']['id']}/close", headers=BACKEND
            )
            assert by_http.status_code == 200
            assert by_http.json()["refund"] == {"fen": 50, "packets": 5}
            as_viewer = await http.post(
                f"/api/rooms/r1/packets/{other['packet']['id']}/close", headers=bearer("bob", "r1")
            )
            assert as_viewer.status_code == 403
    finally:
        for client in (host, bob, carol):
            await client.close()
