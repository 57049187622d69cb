"""Every refusal of a group buy has its code, over WebSocket and HTTP, and kills nothing."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.flashsale.conftest import bearer
from tests.groupbuy.conftest import GroupApi, deal_body
from tests.liveclient import LiveClient
from tests.servers import ServerProcess
from tests.timeouts import eventually


async def test_websocket_refusals_have_their_codes(
    server: ServerProcess, api: GroupApi, room: str
) -> None:
    """Unknown deal, zero quantity, no request id, unknown/full/own group, limit, stock and
    window refusals each answer their code; the connection lives on."""
    await api.create(room, **deal_body("d1", size=2, stock=3, limit=1), open=True)
    await api.create(room, **deal_body("later", start=time.time() + 600), open=True)
    await api.create(room, **deal_body("shut"), open=True)
    await api.post(f"/api/rooms/{room}/deals/shut/close")
    ann = await LiveClient.connect(server.ws_url, room=room, user="ann")
    bob = await LiveClient.connect(server.ws_url, room=room, user="bob")
    try:
        await ann.event("snapshot")
        await bob.event("snapshot")

        async def code(client: LiveClient, kind: str, **fields: Any) -> str:
            reply = await client.command(kind, **fields)
            assert not reply["ok"], reply
            return str(reply["error"]["code"])

        assert await code(ann, "start_group", deal="nope", request_id="a") == "not_found"
        assert await code(ann, "start_group", deal="d1", quantity=0, request_id="a") == (
            "bad_quantity"
        )
        assert await code(ann, "start_group", deal="d1", quantity="2", request_id="a") == (
            "bad_quantity"
        )
        assert await code(ann, "start_group", deal="d1") == "bad_request"
        assert await code(ann, "join_group", deal="d1", request_id="a") == "bad_request"
        assert await code(ann, "start_group", deal="later", request_id="a") == "not_started"
        assert await code(ann, "match_group", deal="shut", request_id="a") == "ended"
        assert await code(ann, "match_group", deal="d1", request_id="m") == "no_open_group"
        started = await ann.command("start_group", deal="d1", request_id="s")
        gid = started["group"]["id"]
        assert await code(ann, "join_group", deal="d1", group="d1-g9", request_id="b") == (
            "no_group"
        )
        assert await code(ann, "join_group", deal="d1", group=gid, request_id="b2") == (
            "already_in_group"
        )
        assert await code(ann, "start_group", deal="d1", request_id="c") == "limit_reached"
        assert (await bob.command("join_group", deal="d1", group=gid, request_id="j"))["ok"]
        # a formed group answers group_full, even to its own members
        assert await code(bob, "join_group", deal="d1", group=gid, request_id="k") == ("group_full")
        assert (await api.place(room, "d1", "cy", "k", gid)).json()["error"]["code"] == (
            "group_full"
        )
        assert (await api.place(room, "d1", "cy", "k2")).status_code == 200
        assert (await api.place(room, "d1", "dee", "k")).json()["error"]["code"] == (
            "deal_sold_out"
        )
        assert await code(ann, "cancel_group_order", deal="d1", order="d1-o99") == "not_found"
        assert (await ann.command("ping"))["ok"]
        assert (await api.audit(room, "d1"))["ok"]
    finally:
        await ann.close()
        await bob.close()


async def test_a_group_past_its_time_is_not_open(api: GroupApi, room: str) -> None:
    """A group that failed answers group_not_open; its members were released."""
    await api.create(room, **deal_body(size=3, stock=5, fill_s=0.2), open=True)
    gid = (await api.place(room, "d1", "a", "k")).json()["group"]["id"]

    async def failed() -> bool:
        card = await api.get(f"/api/rooms/{room}/deals/d1/groups/{gid}", bearer("b", room))
        return bool(card.json()["group"]["status"] == "failed")

    await eventually(failed, timeout=5)
    late = await api.place(room, "d1", "b", "k", gid)
    assert late.status_code == 409 and late.json()["error"]["code"] == "group_not_open"
    audit = await api.audit(room, "d1")
    assert audit["ok"] and audit["stock"] == 5 and audit["groups"]["failed"] == 1


@pytest.mark.parametrize(
    "body, message",
    [
        ({"size": 1}, "size"),
        ({"size": 51}, "size"),
        ({"stock": -1}, "stock"),
        ({"fill_s": 0}, "fill_s"),
        ({"colour": "red"}, "colour"),
        ({"title": ""}, "title"),
    ],
)
async def test_bad_deals_are_refused(
    api: GroupApi, room: str, body: dict[str, Any], message: str
) -> None:
    """A create with a size outside 2-50, bad stock, fill time, field or title: bad_request."""
    response = await api.post(f"/api/rooms/{room}/deals", **{**deal_body(), **body})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert message in response.json()["error"]["message"]


async def test_viewers_cannot_manage_deals_or_confirm(api: GroupApi, room: str) -> None:
    """Create, close and confirm are the host's and the backend's."""
    viewer = bearer("v", room)
    assert (await api.post(f"/api/rooms/{room}/deals", viewer, **deal_body())).status_code == 403
    await api.create(room, **deal_body(size=2), open=True)
    assert (await api.post(f"/api/rooms/{room}/deals/d1/close", viewer)).status_code == 403
    confirm = await api.post(f"/api/rooms/{room}/deals/d1/orders/d1-o1/confirm", viewer)
    assert confirm.status_code == 403
    listed = await api.get(f"/api/rooms/{room}/deals/d1/groups?status=all", viewer)
    assert listed.status_code == 400
