"""Product cards through real server processes: WebSocket commands, events and HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from tests.liveclient import LiveClient, token
from tests.servers import API_KEY

BACKEND = {"authorization": f"Bearer {API_KEY}"}
IMG = "https://img.example.com/p.jpg"


def card(sku: str, **extra: object) -> dict[str, object]:
    return {"sku": sku, "title": f"商品 {sku}", "price": 9900, "image": IMG, **extra}


def board(event: dict[str, object]) -> list[str]:
    return [c["sku"] for c in event["cards"]]  # type: ignore[attr-defined,index]


def newest(client: LiveClient) -> list[dict[str, Any]] | None:
    """The board a client should show: the highest version from its snapshot and events.

    A snapshot may be up to a tick old (joins within a tick share one); the events after it
    bring the client level, so the two together are what a viewer draws.
    """
    boards = [(e["cards_version"], e["cards"]) for e in client.of_type("snapshot")]
    boards += [(e["version"], e["cards"]) for e in client.of_type("cards")]
    return max(boards, key=lambda b: b[0])[1] if boards else None


def newest_board(client: LiveClient) -> list[str] | None:
    cards = newest(client)
    return None if cards is None else [c["sku"] for c in cards]


async def test_cards_across_two_nodes(start_server, redis_server_settings) -> None:  # type: ignore[no-untyped-def]
    """Pins reach both nodes, late joiners get them, the 4th is refused, unpin spreads."""
    a = start_server(**redis_server_settings)
    b = start_server(**redis_server_settings)
    host = await LiveClient.connect(a.ws_url, "shop", "host1", role="host")
    early_a = await LiveClient.connect(a.ws_url, "shop", "va")
    early_b = await LiveClient.connect(b.ws_url, "shop", "vb")
    clients = [host, early_a, early_b]
    try:
        for client in clients:
            await client.event("snapshot")
        for sku in ("s1", "s2", "s3"):
            answer = await host.command("card_pin", **card(sku, reminder="热卖"))
            assert answer["ok"] is True, answer
        assert [c["sku"] for c in answer["cards"]] == ["s1", "s2", "s3"]
        fourth = await host.command("card_pin", **card("s4"))
        assert fourth["ok"] is False
        assert fourth["error"]["code"] == "cards_full"
        for viewer in (early_a, early_b):
            await viewer.wait(lambda v=viewer: newest_board(v) == ["s1", "s2", "s3"])

        late = await LiveClient.connect(b.ws_url, "shop", "late")
        clients.append(late)
        await late.event("snapshot")
        await late.wait(lambda: newest_board(late) == ["s1", "s2", "s3"])
        assert newest(late)[0]["reminder"] == "热卖"  # type: ignore[index]

        replaced = await host.command("card_pin", replace="s2", **card("s9"))
        assert [c["sku"] for c in replaced["cards"]] == ["s1", "s9", "s3"]
        gone = await host.command("card_unpin", sku="s1")
        assert gone["ok"] is True and [c["sku"] for c in gone["cards"]] == ["s9", "s3"]
        for viewer in (early_a, early_b, late):
            await viewer.wait(lambda v=viewer: newest_board(v) == ["s9", "s3"])
            unpin = [e for e in viewer.of_type("cards") if e["change"] == "unpin"]
            assert unpin[-1]["sku"] == "s1"
    finally:
        for client in clients:
            await client.close()


async def test_card_errors_over_websocket(start_server) -> None:  # type: ignore[no-untyped-def]
    """Viewers cannot pin; unknown skus are not_found; bad cards are bad_request; still alive."""
    server = start_server()
    host = await LiveClient.connect(server.ws_url, "r1", "host1", role="host")
    viewer = await LiveClient.connect(server.ws_url, "r1", "bob")
    try:
        await viewer.event("snapshot")
        denied = await viewer.command("card_pin", **card("s1"))
        assert denied["error"]["code"] == "forbidden"
        denied = await viewer.command("card_unpin", sku="s1")
        assert denied["error"]["code"] == "forbidden"
        assert (await host.command("card_unpin", sku="nope"))["error"]["code"] == "not_found"
        assert (await viewer.command("card_click", sku="nope"))["error"]["code"] == "not_found"
        bad = await host.command("card_pin", sku="s1", title="x", price=-1, image=IMG)
        assert bad["error"]["code"] == "bad_request"
        bad = await host.command("card_pin", **card("s1", image="javascript:alert(1)"))
        assert bad["error"]["code"] == "bad_request"
        bad = await host.command("card_pin", **card("bad sku"))
        assert bad["error"]["code"] == "bad_request"
        missing = await host.command("card_pin", replace="zz", **card("s1"))
        assert missing["error"]["code"] == "not_found"
        assert (await host.command("card_pin", **card("s1")))["ok"] is True
        assert (await viewer.command("ping"))["ok"] is True
        assert viewer.closed is None
    finally:
        await host.close()
        await viewer.close()


async def test_clicks_and_shows_count_once_per_user(start_server) -> None:  # type: ignore[no-untyped-def]
    """Clicks count once per user and card; joiners count as shown; the funnel says so."""
    server = start_server()
    host = await LiveClient.connect(server.ws_url, "r1", "host1", role="host")
    await host.event("snapshot")
    await host.command("card_pin", **card("s1"))
    await host.command("card_pin", **card("s2"))
    viewer = await LiveClient.connect(server.ws_url, "r1", "bob")
    other = await LiveClient.connect(server.ws_url, "r1", "carol")
    try:
        await viewer.event("snapshot")
        await other.event("snapshot")
        first = await viewer.command("card_click", sku="s1")
        again = await viewer.command("card_click", sku="s1")
        assert (first["counted"], again["counted"]) == (True, False)
        assert (await other.command("card_view", sku="s2"))["counted"] is False  # joined: shown
        async with httpx.AsyncClient(base_url=server.url) as http:
            click = await http.post(
                "/api/rooms/r1/cards/s1/click",
                headers={"authorization": f"Bearer {token('carol', 'r1')}"},
            )
            assert click.json() == {"sku": "s1", "counted": True}
            funnel = await http.get(
                "/api/rooms/r1/cards/funnel", headers={"authorization": f"Bearer {API_KEY}"}
            )
        assert funnel.json()["cards"] == {
            "s1": {"shown": 2, "clicked": 2},  # the host joined before the pins
            "s2": {"shown": 2, "clicked": 0},
        }
    finally:
        for client in (host, viewer, other):
            await client.close()


async def test_cards_over_http(start_server) -> None:  # type: ignore[no-untyped-def]
    """The backend pins and unpins over HTTP; viewers read but cannot change; errors have codes."""
    server = start_server()
    viewer = await LiveClient.connect(server.ws_url, "r1", "bob")
    backend = {"authorization": f"Bearer {API_KEY}"}
    as_viewer = {"authorization": f"Bearer {token('bob', 'r1')}"}
    try:
        await viewer.event("snapshot")
        async with httpx.AsyncClient(base_url=server.url) as http:
            pinned = await http.post("/api/rooms/r1/cards", json=card("s1"), headers=backend)
            assert pinned.status_code == 200 and pinned.json()["version"] == 1
            await viewer.wait(lambda: newest_board(viewer) == ["s1"])
            refused = await http.post("/api/rooms/r1/cards", json=card("s2"), headers=as_viewer)
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "forbidden"
            got = await http.get("/api/rooms/r1/cards", headers=as_viewer)
            assert [c["sku"] for c in got.json()["cards"]] == ["s1"]
            for sku in ("s2", "s3"):
                await http.post("/api/rooms/r1/cards", json=card(sku), headers=backend)
            full = await http.post("/api/rooms/r1/cards", json=card("s4"), headers=backend)
            assert full.status_code == 409 and full.json()["error"]["code"] == "cards_full"
            missing = await http.delete("/api/rooms/r1/cards/nope", headers=backend)
            assert missing.status_code == 404
            assert (await http.delete("/api/rooms/r1/cards/s2", headers=backend)).status_code == 200
            await viewer.wait(lambda: newest_board(viewer) == ["s1", "s3"])
            assert (await http.delete("/api/rooms/r1/cards", headers=backend)).status_code == 200
            await viewer.wait(lambda: newest_board(viewer) == [])
    finally:
        await viewer.close()


async def test_card_linked_to_a_flash_sale(start_server) -> None:  # type: ignore[no-untyped-def]
    """A card names its sale: pin copies the live stock; the sale's events carry the same sku."""
    server = start_server()
    host = await LiveClient.connect(server.ws_url, "r1", "host1", role="host")
    viewer = await LiveClient.connect(server.ws_url, "r1", "bob")
    try:
        await host.event("snapshot")
        await viewer.event("snapshot")
        async with httpx.AsyncClient(base_url=server.url) as http:
            sale = {"id": "fs1", "sku": "s1", "title": "秒杀", "price": 990, "stock": 5}
            made = await http.post("/api/rooms/r1/sales", json=sale, headers=BACKEND)
            assert made.status_code == 200, made.text
            await http.post("/api/rooms/r1/sales/fs1/open", headers=BACKEND)
        wrong = await host.command("card_pin", **card("s2", sale="fs1"))
        assert wrong["error"]["code"] == "conflict"
        assert (await host.command("card_pin", **card("s1", sale="nope")))["error"]["code"] == (
            "not_found"
        )
        pinned = await host.command("card_pin", **card("s1", sale="fs1", stock=999))
        assert pinned["cards"][0]["stock"] == 5 and pinned["cards"][0]["sale"] == "fs1"
        bought = await viewer.command("buy", sale="fs1", quantity=1, request_id="b1")
        assert bought["ok"] is True, bought
        moved = await viewer.event("sale")
        await viewer.wait(
            lambda: any(e["sale"]["stock"] == 4 for e in viewer.of_type("sale")), timeout=5
        )
        assert moved["sale"]["sku"] == "s1"
        late = await LiveClient.connect(server.ws_url, "r1", "carol")
        try:
            await late.wait(lambda: newest_board(late) == ["s1"])
            assert newest(late)[0]["sale"] == "fs1"  # type: ignore[index]

            def stock() -> int | None:
                seen = [
                    (s["version"], s["stock"])
                    for e in late.of_type("snapshot")
                    for s in e["sales"]
                    if s["sku"] == "s1"
                ]
                seen += [(e["sale"]["version"], e["sale"]["stock"]) for e in late.of_type("sale")]
                return max(seen)[1] if seen else None

            await late.wait(lambda: stock() == 4)
        finally:
            await late.close()
    finally:
        await host.close()
        await viewer.close()
