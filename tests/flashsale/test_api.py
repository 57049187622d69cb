"""Flash sales through one real server process: lifecycle, buys, events, orders, bad input."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.flashsale.conftest import Api, bearer, sale_body
from tests.liveclient import LiveClient
from tests.servers import ServerProcess
from tests.timeouts import eventually


async def open_sale(api: Api, room: str, **body: Any) -> dict[str, Any]:
    response = await api.create(room, **sale_body(**body), open=True)
    assert response.status_code == 200, response.text
    return dict(response.json()["sale"])


async def test_lifecycle_through_the_api(api: Api, room: str) -> None:
    """Create, open, adjust, close: each answers the sale's state; a viewer reads it too."""
    created = await api.create(room, **sale_body(stock=5, duration_s=60))
    assert created.status_code == 200, created.text
    sale = created.json()["sale"]
    assert (sale["status"], sale["stock"], sale["total"], sale["reserved"]) == (
        "created", 5, 5, 0
    )  # fmt: skip
    again = await api.create(room, **sale_body())
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    opened = (await api.post(f"/api/rooms/{room}/sales/s1/open")).json()["sale"]
    assert opened["status"] == "open" and abs(opened["end"] - opened["start"] - 60) < 0.01
    grown = (await api.post(f"/api/rooms/{room}/sales/s1/stock", delta=3)).json()["sale"]
    assert (grown["stock"], grown["total"]) == (8, 8)
    closed = (await api.post(f"/api/rooms/{room}/sales/s1/close")).json()["sale"]
    assert closed["status"] == "closed"
    seen = await api.get(f"/api/rooms/{room}/sales/s1", headers=bearer("v1", room))
    assert seen.status_code == 200 and "reserved" not in seen.json()["sale"]
    listed = await api.get(f"/api/rooms/{room}/sales", headers=bearer("v1", room))
    assert [s["id"] for s in listed.json()["sales"]] == ["s1"]


async def test_host_token_manages_sales(api: Api, room: str) -> None:
    """A host token for the room may create and open a sale, like the backend."""
    host = bearer("h1", room, "host")
    response = await api.create(room, headers=host, **sale_body(), open=True)
    assert response.status_code == 200, response.text
    assert response.json()["sale"]["status"] == "open"


async def test_ws_buy_then_confirm(server: ServerProcess, api: Api, room: str) -> None:
    """A WebSocket buy reserves with an order and deadline; the backend confirms it paid."""
    await open_sale(api, room, payment_s=60)
    viewer = await LiveClient.connect(server.ws_url, room=room, user="v1")
    try:
        await viewer.event("snapshot")
        reply = await viewer.command("buy", sale="s1", quantity=2, request_id="r-1")
        assert reply["ok"] is True, reply
        assert reply["status"] == "ok" and reply["quantity"] == 2
        assert reply["order"] and time.time() + 50 < reply["deadline"] < time.time() + 61
        path = f"/api/rooms/{room}/sales/s1/orders/{reply['order']}"
        mine = await api.get(path, headers=bearer("v1", room))
        assert mine.json()["order"]["status"] == "reserved"
        other = await api.get(path, headers=bearer("v2", room))
        assert other.status_code == 404
        by_viewer = await api.post(path + "/confirm", headers=bearer("v1", room))
        assert by_viewer.status_code == 403
        paid = await api.post(path + "/confirm")
        assert paid.status_code == 200 and paid.json()["order"]["status"] == "paid"
        cancel = await viewer.command("cancel_order", sale="s1", order=reply["order"])
        assert cancel["ok"] is False and cancel["error"]["code"] == "conflict"
        report = await api.audit(room, "s1")
        assert report["ok"] and (report["paid"], report["stock"]) == (2, 8)
    finally:
        await viewer.close()


async def test_cancel_gives_stock_back(server: ServerProcess, api: Api, room: str) -> None:
    """A viewer cancels its own order over WebSocket; stock and quota come back."""
    await open_sale(api, room, stock=2, limit=2)
    viewer = await LiveClient.connect(server.ws_url, room=room, user="v1")
    try:
        await viewer.event("snapshot")
        bought = await viewer.command("buy", sale="s1", quantity=2, request_id="a")
        assert bought["ok"], bought
        cancelled = await viewer.command("cancel_order", sale="s1", order=bought["order"])
        assert cancelled["ok"] and cancelled["order"]["status"] == "cancelled"
        assert cancelled["stock"] == 2
        again = await viewer.command("buy", sale="s1", quantity=2, request_id="b")
        assert again["ok"], again
    finally:
        await viewer.close()


async def test_snapshot_and_events_follow_the_stock(
    server: ServerProcess, api: Api, room: str
) -> None:
    """Late joiners see the sale in the snapshot; viewers see stock move, sold_out, notices."""
    await open_sale(api, room, stock=6, limit=1)
    watcher = await LiveClient.connect(server.ws_url, room=room, user="w")
    buyers = [await LiveClient.connect(server.ws_url, room=room, user=f"b{i}") for i in range(6)]
    try:
        snapshot = await watcher.event("snapshot")
        assert [s["id"] for s in snapshot["sales"]] == ["s1"]
        assert snapshot["sales"][0]["stock"] == 6 and snapshot["sales"][0]["sku"] == "SKU-s1"
        for buyer in buyers:
            await buyer.event("snapshot")
        replies = await asyncio.gather(
            *(b.command("buy", sale="s1", quantity=1, request_id="x") for b in buyers)
        )
        assert all(r["ok"] for r in replies), replies
        sold_out = await watcher.event("sold_out")
        assert sold_out["sale"]["stock"] == 0 and sold_out["sale"]["sku"] == "SKU-s1"
        last = await watcher.wait(
            lambda: [e for e in watcher.of_type("sale") if e["sale"]["stock"] == 0]
        )
        assert last[-1]["sale"]["sold_out"] is True
        # six movements in a burst: coalesced into fewer stock events
        assert len(watcher.of_type("sale")) < 6
        notice = await watcher.wait(
            lambda: sum(e["count"] for e in watcher.of_type("purchases")) == 6
        )
        assert notice
        texts = [e["text"] for e in watcher.of_type("purchases")]
        assert any("人已下单" in t or "已下单" in t for t in texts), texts
        late = await LiveClient.connect(server.ws_url, room=room, user="late")
        try:
            assert (await late.event("snapshot"))["sales"][0]["stock"] == 0
        finally:
            await late.close()
    finally:
        for client in (watcher, *buyers):
            await client.close()


async def test_purchase_notice_batches_buyers(server: ServerProcess, api: Api, room: str) -> None:
    """Several orders within the window make one notice: "X 等 N 人已下单"."""
    await open_sale(api, room, stock=50, limit=1)
    watcher = await LiveClient.connect(server.ws_url, room=room, user="w")
    try:
        await watcher.event("snapshot")
        answers = await asyncio.gather(*(api.buy(room, "s1", f"u{i}", "q") for i in range(5)))
        assert all(a.status_code == 200 for a in answers)
        notice = await watcher.event("purchases")
        assert notice["count"] == 5 and notice["text"].endswith("等 5 人已下单")
        assert notice["sku"] == "SKU-s1"
    finally:
        await watcher.close()


async def test_http_buy_answers_match_ws(server: ServerProcess, api: Api, room: str) -> None:
    """Refusals over HTTP carry the same codes as over WebSocket, with HTTP statuses."""
    await open_sale(api, room, stock=1, limit=1)
    first = await api.buy(room, "s1", "u1", "a")
    assert first.status_code == 200 and first.json()["status"] == "ok"
    limit = await api.buy(room, "s1", "u1", "b")
    assert limit.status_code == 409 and limit.json()["error"]["code"] == "limit_reached"
    sold = await api.buy(room, "s1", "u2", "a")
    assert sold.status_code == 409 and sold.json()["error"]["code"] == "sold_out"
    viewer = await LiveClient.connect(server.ws_url, room=room, user="u2")
    try:
        await viewer.event("snapshot")
        again = await viewer.command("buy", sale="s1", request_id="a")
        assert again["error"]["code"] == "sold_out" and again["error"]["retry"] is False
    finally:
        await viewer.close()


async def test_backend_buys_on_behalf_of_a_user(api: Api, room: str) -> None:
    """With the API key the backend names the buyer; the limit counts for that user."""
    await open_sale(api, room, limit=1)
    path = f"/api/rooms/{room}/sales/s1/buy"
    ok = await api.post(path, user="u1", quantity=1, request_id="a")
    assert ok.status_code == 200, ok.text
    again = await api.post(path, user="u1", quantity=1, request_id="b")
    assert again.json()["error"]["code"] == "limit_reached"
    missing = await api.post(path, quantity=1, request_id="c")
    assert missing.status_code == 400


async def test_not_started_and_ended(api: Api, room: str) -> None:
    """Before its start a sale answers not_started; after close, ended."""
    await open_sale(api, room, sale="later", start=time.time() + 600)
    early = await api.buy(room, "later", "u1", "a")
    assert early.json()["error"]["code"] == "not_started"
    await open_sale(api, room, sale="done")
    await api.post(f"/api/rooms/{room}/sales/done/close")
    late = await api.buy(room, "done", "u1", "a")
    assert late.json()["error"]["code"] == "ended"


async def test_buy_attempts_count_once_per_user_in_the_funnel(api: Api, room: str) -> None:
    """``buy_tried`` in the room's stats counts each user who tried to buy, once."""
    created = await api.create(room, **sale_body(stock=1, limit=1, open=True))
    assert created.status_code == 200, created.text
    for user, request_id in (("ann", "r1"), ("ann", "r2"), ("bo", "r1"), ("cy", "r1")):
        await api.buy(room, "s1", user, request_id=request_id)

    async def counted() -> bool:
        stats = (await api.get(f"/api/rooms/{room}/stats")).json()
        return bool(stats["counters"].get("buy_tried") == 3)

    await eventually(counted, timeout=5)
