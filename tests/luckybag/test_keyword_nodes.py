"""A keyword bag opened on one node counts keyword comments posted on another node at once
(issue 19): the node relaying the open knows the bag from then on, and a comment posted after
the open, in the room's order, is always checked against it."""

from __future__ import annotations

import httpx

from tests.liveclient import LiveClient
from tests.servers import API_KEY

BACKEND = {"Authorization": f"Bearer {API_KEY}"}


async def test_keyword_comment_on_another_node_right_after_the_open_joins(  # type: ignore[no-untyped-def]
    start_server, redis_server_settings
) -> None:
    """Open on node A; the keyword comment on node B, sent as soon as A answers, joins."""
    # a slow pulse: nothing refreshes B's view of the room's bag on its own during the test
    settings = {**redis_server_settings, "pulse_s": 30, "sweep_interval_s": 30}
    a, b = start_server(**settings), start_server(**settings)
    for round_ in range(3):
        room = f"kw{round_}"
        host = await LiveClient.connect(a.ws_url, room, "hana", role="host")
        viewer = await LiveClient.connect(b.ws_url, room, f"v{round_}")
        try:
            await host.event("snapshot")
            await viewer.event("snapshot")
            # B looks the room's bag up for this comment: it has none, and B caches that
            assert (await viewer.command("comment", text=f"warm up {round_}"))["ok"] is True
            created = await host.command(
                "bag_create",
                prize="Tea",
                value_fen=100,
                duration_s=60,
                join="keyword",
                keyword=f"想要{round_}",
                open=True,
            )
            assert created["ok"], created
            bag = created["bag"]["id"]
            said = await viewer.command("comment", text=f"想要{round_}")
            assert said["ok"] is True, said
            mine = await viewer.event("bag_mine", bag=bag, timeout=5)
            assert mine["joined"] is True and mine["count"] == 1, mine
            async with httpx.AsyncClient(base_url=a.url, headers=BACKEND, timeout=5) as http:
                got = (await http.get(f"/api/rooms/{room}/bags/{bag}")).json()
            assert got["bag"]["count"] == 1, got
        finally:
            await host.close()
            await viewer.close()
