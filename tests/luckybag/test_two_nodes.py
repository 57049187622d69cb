"""Acceptance: two server processes on one Redis draw a bag exactly once, verifiably."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.liveclient import LiveClient, token
from tests.servers import ServerProcess

VERIFY = Path(__file__).resolve().parents[2] / "docs" / "verify_luckybag.py"
USERS = ("alice", "bob", "carol", "dave")


def draw_attempts(server: ServerProcess) -> dict[tuple[str, str], float]:
    """This process's ``liveroom_bag_draw_attempts`` counter, by (trigger, outcome)."""
    text = httpx.get(server.url + "/metrics", timeout=5).text
    out = {}
    pattern = r'^liveroom_bag_draw_attempts_total\{outcome="(\w+)",trigger="(\w+)"\} (\S+)$'
    for outcome, trigger, value in re.findall(pattern, text, re.M):
        out[(trigger, outcome)] = float(value)
    return out


async def test_two_nodes_draw_once_and_winners_verify(  # type: ignore[no-untyped-def]
    start_server, redis_server_settings
) -> None:
    """Joins on both nodes; both timers fire; one draw; verify script agrees; winners told."""
    settings = {**redis_server_settings, "sweep_interval_s": 0.3, "pulse_s": 0.3}
    a, b = start_server(**settings), start_server(**settings)
    host = await LiveClient.connect(a.ws_url, room="r1", user="host1", role="host")
    # every user holds a connection on each node
    conns = {
        (user, node.port): await LiveClient.connect(node.ws_url, room="r1", user=user)
        for user in USERS
        for node in (a, b)
    }
    clients = [host, *conns.values()]
    try:
        for client in clients:
            await client.event("snapshot")
        created = await host.command(
            "bag_create", prize="Tea set", value_fen=29900, winners=2, duration_s=2, open=True
        )
        assert created["ok"], created
        bag = created["bag"]
        assert bag["state"] == "open" and len(bag["seed_hash"]) == 64

        # joins on both nodes, one over HTTP, and a duplicate
        for user, node in (("alice", a), ("bob", b), ("dave", a)):
            reply = await conns[(user, node.port)].command("bag_join", bag=bag["id"])
            assert reply["ok"] and reply["new"], reply
        again = await conns[("bob", a.port)].command("bag_join", bag=bag["id"])
        assert again["ok"] and again["new"] is False and again["count"] == 3
        async with httpx.AsyncClient(base_url=b.url, timeout=5) as http:
            joined = await http.post(
                f"/api/rooms/r1/bags/{bag['id']}/join",
                headers={"Authorization": f"Bearer {token('carol', 'r1')}"},
            )
            assert joined.status_code == 200 and joined.json()["count"] == 4

            # the deadline passes; every connection hears the one announcement
            for client in clients:
                await client.event("bag_drawn", timeout=10)
            proof_reply = await http.get(
                f"/api/rooms/r1/bags/{bag['id']}/proof",
                headers={"Authorization": f"Bearer {token('dave', 'r1')}"},
            )
        assert all(len(client.of_type("bag_drawn")) == 1 for client in clients)
        announced = host.of_type("bag_drawn")[0]["bag"]
        winners = [w["id"] for w in announced["winner_list"]]
        assert len(winners) == 2 and set(winners) <= set(USERS)

        # the draw happened once, though both nodes' timers fired
        attempts = [draw_attempts(a), draw_attempts(b)]
        assert all(
            sum(v for (trigger, _), v in n.items() if trigger == "timer") >= 1 for n in attempts
        )
        assert sum(n.get(("timer", "claimed"), 0) for n in attempts) == 1

        # anyone can recompute the winners from the revealed seed and the participants
        proof = proof_reply.json()
        assert proof["participants"] == sorted(USERS) and proof["seed"] == announced["seed"]
        run = subprocess.run(
            [sys.executable, str(VERIFY)], input=json.dumps(proof), capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.split() == winners

        # each winner is told on every connection, on both nodes; nobody else is
        for (user, _), client in conns.items():
            if user in winners:
                notice = await client.event("bag_won", bag=bag["id"])
                assert notice["prize"] == "Tea set"
        await conns[(winners[0], a.port)].command("ping")
        for (user, _), client in conns.items():
            if user not in winners:
                await client.command("ping")
                assert not client.of_type("bag_won")
    finally:
        for client in clients:
            await client.close()
