"""Bad buys and bad callers get clear codes; stock never moves; connection and process live on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.flashsale.conftest import Api, bearer, sale_body
from tests.liveclient import LiveClient
from tests.servers import ServerProcess

BAD_QUANTITIES: list[Any] = [0, -1, -(10**6), 10**9, 2**62, "1", 1.5, True, None, [1]]
BAD_REQUEST_IDS: list[Any] = ["", "x" * 65, "has space", "é", "a/b", 123, None, {"a": 1}]


async def make_sale(api: Api, room: str) -> None:
    response = await api.create(room, **sale_body(stock=5, limit=2), open=True)
    assert response.status_code == 200, response.text


async def assert_untouched(api: Api, room: str) -> None:
    report = await api.audit(room, "s1")
    assert report["ok"] and (report["stock"], report["orders"]) == (5, 0), report


async def test_ws_bad_buys(server: ServerProcess, api: Api, room: str) -> None:
    """Over WebSocket: each bad buy gets its code, the stock stays, the connection lives."""
    await make_sale(api, room)
    viewer = await LiveClient.connect(server.ws_url, room=room, user="v1")
    try:
        await viewer.event("snapshot")
        for quantity in BAD_QUANTITIES:
            reply = await viewer.command("buy", sale="s1", quantity=quantity, request_id="q")
            assert reply["error"]["code"] == "invalid_quantity", (quantity, reply)
        for request_id in BAD_REQUEST_IDS:
            reply = await viewer.command("buy", sale="s1", quantity=1, request_id=request_id)
            assert reply["error"]["code"] == "bad_request", (request_id, reply)
        missing = await viewer.command("buy", sale="s1", quantity=1)
        assert missing["error"]["code"] == "bad_request"
        unknown = await viewer.command("buy", sale="nope", quantity=1, request_id="q")
        assert unknown["error"]["code"] == "not_found"
        for sale in ("", "../s1", "x" * 65, 7):
            reply = await viewer.command("buy", sale=sale, quantity=1, request_id="q")
            assert reply["error"]["code"] == "bad_request", (sale, reply)
        cancel = await viewer.command("cancel_order", sale="s1", order="s1-1")
        assert cancel["error"]["code"] == "not_found"
        assert (await viewer.command("ping"))["ok"] is True
        assert viewer.closed is None
    finally:
        await viewer.close()
    await assert_untouched(api, room)


async def test_http_bad_buys(api: Api, room: str) -> None:
    """Over HTTP: the same codes with 4xx statuses, and the stock stays."""
    await make_sale(api, room)
    for quantity in BAD_QUANTITIES:
        response = await api.buy(room, "s1", "v1", "q", quantity=quantity)
        assert response.status_code == 400, (quantity, response.text)
        assert response.json()["error"]["code"] == "invalid_quantity"
    for request_id in BAD_REQUEST_IDS:
        response = await api.buy(room, "s1", "v1", request_id)
        assert response.json()["error"]["code"] == "bad_request", (request_id, response.text)
    unknown = await api.buy(room, "nope", "v1", "q")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    garbage = await api.http.post(
        f"/api/rooms/{room}/sales/s1/buy", content=b"{nope", headers=bearer("v1", room)
    )
    assert garbage.json()["error"]["code"] == "bad_json"
    await assert_untouched(api, room)


async def test_sale_of_another_room(server: ServerProcess, api: Api, room: str) -> None:
    """A sale is found only in its own room: elsewhere it is not_found (or forbidden)."""
    await make_sale(api, room)
    other = room + "x"
    viewer = await LiveClient.connect(server.ws_url, room=other, user="v1")
    try:
        await viewer.event("snapshot")
        reply = await viewer.command("buy", sale="s1", quantity=1, request_id="q")
        assert reply["error"]["code"] == "not_found"
    finally:
        await viewer.close()
    elsewhere = await api.buy(other, "s1", "v1", "q")
    assert elsewhere.json()["error"]["code"] == "not_found"
    wrong_token = await api.http.post(
        f"/api/rooms/{room}/sales/s1/buy",
        json={"quantity": 1, "request_id": "q"},
        headers=bearer("v1", other),
    )
    assert wrong_token.status_code == 403
    await assert_untouched(api, room)


@pytest.mark.parametrize(
    "method, tail, body",
    [
        ("POST", "", sale_body("s2")),
        ("POST", "/s1/open", {}),
        ("POST", "/s1/close", {}),
        ("POST", "/s1/stock", {"delta": 100}),
        ("GET", "/s1/audit", None),
        ("POST", "/s1/orders/s1-1/confirm", {}),
    ],
)
async def test_viewer_cannot_call_host_endpoints(
    api: Api, room: str, method: str, tail: str, body: Any
) -> None:
    """A viewer token is refused with forbidden on every management endpoint."""
    await make_sale(api, room)
    response = await api.http.request(
        method, f"/api/rooms/{room}/sales{tail}", json=body, headers=bearer("v1", room)
    )
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "forbidden"
    await assert_untouched(api, room)


async def test_anonymous_viewers_cannot_buy(server: ServerProcess, api: Api, room: str) -> None:
    """A guest without a token watches; its buy is read_only."""
    await make_sale(api, room)
    guest = await LiveClient.connect(server.ws_url, room=room, user=None)
    try:
        await guest.event("snapshot")
        reply = await guest.command("buy", sale="s1", quantity=1, request_id="q")
        assert reply["error"]["code"] == "read_only"
    finally:
        await guest.close()
    await assert_untouched(api, room)


async def test_bad_sale_definitions(api: Api, room: str) -> None:
    """Creating a sale checks every field and refuses unknown ones."""
    bad = [
        {"stock": -1},
        {"stock": "10"},
        {"limit": 0},
        {"price": 1.5},
        {"sku": "has space"},
        {"title": ""},
        {"id": "../x"},
        {"id": "s1:log"},  # would share a Redis key with sale s1's order log
        {"start": 200.0, "end": 100.0},
        {"payment_s": 0},
        {"colour": "red"},
        {"open": "yes"},
    ]
    for change in bad:
        response = await api.create(room, **{**sale_body(), **change})
        assert response.status_code == 400, (change, response.text)
    assert (await api.get(f"/api/rooms/{room}/sales")).json()["sales"] == []
    await make_sale(api, room)
    too_many = await api.post(f"/api/rooms/{room}/sales/s1/stock", delta=-6)
    assert too_many.status_code == 409
    await assert_untouched(api, room)
