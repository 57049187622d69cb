"""A node is SIGKILLed mid-stream: its viewers resume elsewhere, its count and its work move on."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.cluster.rooms import LIMITS, comments, post
from tests.flashsale.conftest import BACKEND, Api, bearer, sale_body
from tests.liveclient import LiveClient
from tests.timeouts import eventually, scaled

ROOM = "death"
TTL_S = 1.0


def online(client: LiveClient) -> int | None:
    stats = client.of_type("stats")
    return stats[-1]["online"] if stats else None


async def test_killed_node_hands_over_viewers_count_reservations_and_draws(
    start_server: Any, redis_server_settings: dict[str, object]
) -> None:
    """SIGKILL one of two nodes while viewers comment; the other carries everything on."""
    settings = {
        **redis_server_settings,
        **LIMITS,
        "node_ttl_s": TTL_S,
        "pulse_s": 0.2,
        "sweep_interval_s": 0.2,
    }
    doomed, survivor = start_server(**settings), start_server(**settings)
    api_doomed, api_survivor = Api(doomed.url), Api(survivor.url)
    moved = [await LiveClient.connect(doomed.ws_url, ROOM, f"va{i}") for i in range(3)]
    stay = [await LiveClient.connect(survivor.ws_url, ROOM, f"vb{i}") for i in range(2)]
    writer_doomed = await LiveClient.connect(doomed.ws_url, ROOM, "wa")
    writer_survivor = await LiveClient.connect(survivor.ws_url, ROOM, "wb")
    resumed: list[LiveClient] = []
    everyone = [*moved, *stay, writer_doomed, writer_survivor]
    try:
        await asyncio.gather(*(c.event("snapshot") for c in everyone))
        # reservations and a lucky bag made through the node that is about to die
        await api_survivor.create(ROOM, **sale_body(stock=6, limit=2, payment_s=5), open=True)
        for i in range(3):
            bought = await api_doomed.buy(ROOM, "s1", f"p{i}", "k")
            assert bought.status_code == 200, bought.text
        bag = await api_doomed.post(
            f"/api/rooms/{ROOM}/bags",
            prize="tea",
            value_fen=100,
            winners=1,
            duration_s=5,
            open=True,
        )
        assert bag.status_code == 200, bag.text
        bag_id = bag.json()["bag"]["id"]
        joined = await api_survivor.post(
            f"/api/rooms/{ROOM}/bags/{bag_id}/join", headers=bearer("vb0", ROOM)
        )
        assert joined.status_code == 200, joined.text
        await stay[0].wait(lambda: online(stay[0]) == 7, timeout=10)

        async def keep_writing() -> list[dict[str, Any]]:
            return [await post(writer_survivor, f"b{i}") for i in range(20)]

        writing = asyncio.create_task(keep_writing())
        acked = [await post(writer_doomed, f"a{i}") for i in range(5)]
        doomed.kill()
        killed_at = time.monotonic()
        # nothing of the dead node's work was done before it died: the survivor must do it
        before = await api_survivor.audit(ROOM, "s1")
        assert before["reserved"] == 3 and before["expired"] == 0, before
        bag_now = await api_survivor.get(f"/api/rooms/{ROOM}/bags/{bag_id}", headers=BACKEND)
        assert bag_now.json()["bag"]["state"] == "open"

        for i, old in enumerate(moved):
            await old.closed_with(timeout=10)
            offset, epoch = old.position()
            client = await LiveClient.connect(
                survivor.ws_url, ROOM, f"va{i}", offset=offset, epoch=epoch
            )
            resumed.append(client)
        acked += await writing
        await asyncio.gather(*(c.event("resumed") for c in resumed))

        # online: the dead node's four drop out within its heartbeat TTL
        await stay[0].wait(lambda: online(stay[0]) == 6, timeout=TTL_S + 5)
        assert time.monotonic() - killed_at < scaled(TTL_S + 5)

        offsets = sorted(a["offset"] for a in acked)
        for old, new in zip(moved, resumed, strict=True):
            await new.wait(
                lambda o=old, n=new: {x for x, _ in comments(o) + comments(n)} >= set(offsets), 15
            )
            start = next(e for e in old.events if e.get("type") == "snapshot")["offset"]
            seen = old.offsets() + new.offsets()
            assert seen == list(range(start + 1, start + 1 + len(seen))), "no gap, no repeat"
        for viewer in stay:
            await viewer.wait(lambda v=viewer: {o for o, _ in comments(v)} >= set(offsets), 15)

        # the dead node's reservations expire once, swept by the survivor
        async def released() -> dict[str, Any] | None:
            report = await api_survivor.audit(ROOM, "s1")
            return report if report["expired"] == 3 else None

        report = await eventually(released, timeout=15)
        assert report["ok"] and report["stock"] == 6 and report["reserved"] == 0, report

        # and its lucky bag is drawn by the survivor's timer
        async def drawn() -> dict[str, Any] | None:
            got = await api_survivor.get(f"/api/rooms/{ROOM}/bags/{bag_id}", headers=BACKEND)
            state = got.json()["bag"]
            return state if state["state"] == "drawn" else None

        state = await eventually(drawn, timeout=15)
        assert [w["id"] for w in state["winner_list"]] == ["vb0"], state
    finally:
        await asyncio.gather(*(c.close() for c in everyone + resumed))
        await api_doomed.close()
        await api_survivor.close()
