"""The private-traffic feature in one in-process node on the memory engine: the answer codes
over HTTP, host-wide cards and followers, the ``FollowGraph`` seam, and follows in analytics."""

from __future__ import annotations

import time
from typing import Any

from tests.analytics.live import Clock, LiveNode, body, join, live_node, ok
from tests.liveclient import token
from tests.timeouts import eventually

CARD = {"message": "Join us", "link": "https://example.com/g"}


def code(reply: Any, status: int) -> str:
    assert reply.status_code == status, reply.text[:300]
    return str(reply.json()["error"]["code"])


async def test_bad_input_gets_its_code() -> None:
    """A host id a follow cannot take, a bad card, an unknown card kind, booking a room with
    nothing scheduled, scheduling a live room, a viewer setting a card."""
    async with live_node(Clock(time.time())) as n:
        body(await n.api("PATCH", "/api/rooms/c1", {"host": "wx:42"}))
        assert code(await n.api("POST", "/api/rooms/c1/follow", {"user": "u1"}), 409) == "bad_host"
        assert n.node.follows is not None and not await n.node.follows.follows("c1", "u1")
        no_link = {"message": "hi"}
        assert code(await n.api("PUT", "/api/rooms/c2/private-cards/invite", no_link), 400) == (
            "bad_card"
        )
        bad_url = {"message": "hi", "link": "ftp://x"}
        assert code(await n.api("PUT", "/api/rooms/c2/private-cards/service", bad_url), 400) == (
            "bad_card"
        )
        assert code(await n.api("PUT", "/api/rooms/c2/private-cards/coupon", CARD), 404) == (
            "not_found"
        )
        scope = "/api/rooms/c2/private-cards/invite?scope=shop"
        assert code(await n.api("PUT", scope, CARD), 400) == "bad_request"
        assert code(await n.api("POST", "/api/rooms/c2/booking", {"user": "u1"}), 404) == (
            "not_scheduled"
        )
        body(await n.api("PATCH", "/api/rooms/c3", {"title": "live now"}))
        assert code(await n.api("PUT", "/api/rooms/c3/booking", {"title": "t"}), 409) == (
            "room_live"
        )
        viewer = token("u1", "c2")
        assert code(
            await n.api("PUT", "/api/rooms/c2/private-cards/invite", CARD, viewer), 403
        ) == ("forbidden")


async def test_a_booking_after_the_live_is_room_ended() -> None:
    """Scheduled, booked, live (the sweep announces it), ended: a booking is ``room_ended``;
    scheduling again opens a new round that takes it."""
    async with live_node(Clock(time.time()), sweep_interval_s=0.05) as n:
        body(await n.api("PUT", "/api/rooms/e1/booking", {"title": "Tea", "starts": 1.9e9}))
        assert body(await n.api("POST", "/api/rooms/e1/booking", {"user": "u1"}))["new"]
        body(await n.api("PATCH", "/api/rooms/e1", {"title": "Tea"}))
        assert code(await n.api("POST", "/api/rooms/e1/booking", {"user": "u2"}), 409) == (
            "room_live"
        )
        await eventually(lambda: _state(n, "e1", "started"))
        body(await n.api("PATCH", "/api/rooms/e1", {"ended": True}))
        assert code(await n.api("POST", "/api/rooms/e1/booking", {"user": "u2"}), 409) == (
            "room_ended"
        )
        again = body(await n.api("PUT", "/api/rooms/e1/booking", {"title": "Tea again"}))
        assert again["booking"] == {"state": "open", "title": "Tea again", "starts": None,
                                    "bookings": 0}  # fmt: skip
        assert body(await n.api("POST", "/api/rooms/e1/booking", {"user": "u2"}))["new"]


async def _state(n: LiveNode, room: str, state: str) -> bool:
    answer = body(await n.api("GET", f"/api/rooms/{room}/booking"))
    return bool(answer["booking"]["state"] == state)


async def test_a_host_card_and_followers_span_the_hosts_rooms() -> None:
    """Two rooms of one host: a card set for the host applies in both (a room's own wins), a
    follow from either counts once for the host, and ``ctx.follows`` answers for both."""
    async with live_node(Clock(time.time())) as n:
        for room in ("h1", "h2"):
            body(await n.api("PATCH", f"/api/rooms/{room}", {"host": "tea-shop"}))
        body(await n.api("PUT", "/api/rooms/h1/private-cards/invite?scope=host", CARD))
        own = {"message": "Room two's group", "image": "/demo/img/qr-demo.svg"}
        body(await n.api("PUT", "/api/rooms/h2/private-cards/service", own))
        cards = body(await n.api("GET", "/api/rooms/h2/private-cards"))
        assert cards["host"] == "tea-shop"
        assert cards["invite"] == {"room": None, "host": CARD, "applies": CARD}
        assert cards["service"]["applies"] == own
        assert body(await n.api("POST", "/api/rooms/h1/follow", {"user": "u1"}))["new"]
        again = body(await n.api("POST", "/api/rooms/h2/follow", {"user": "u1"}))
        assert (again["new"], again["followers"]) == (False, 1)
        counted = body(await n.api("GET", "/api/rooms/h2/followers?user=u1"))
        assert counted == {"host": "tea-shop", "followers": 1, "following": True}
        graph = n.node.follows
        assert graph is not None
        assert await graph.follows("h2", "u1") and not await graph.follows("h2", "u2")
        assert not await graph.follows("elsewhere", "u1")


async def test_a_follow_in_the_room_reaches_the_hosts_analytics() -> None:
    """A viewer's follow command (twice) is one follow in the report's ``interaction``; the
    viewer learns at join whether it follows."""
    async with live_node(Clock(time.time()), pulse_s=0.05) as n:
        alice = await join(n, "a1", "alice")
        await ok(alice, "follow")
        assert alice.of_type("private_mine") == []  # neither following nor booked: not sent
        await ok(alice, "follow")

        async def follows() -> bool:
            reply = await n.api("GET", "/api/rooms/a1/report")  # 404 until the first write
            return reply.status_code == 200 and reply.json()["interaction"]["follows"] == 1

        await eventually(follows)
        await alice.close()
        again = await join(n, "a1", "alice")
        assert (await again.event("private_mine"))["following"] is True
        await again.close()
