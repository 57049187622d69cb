"""Product cards through the client: viewers see the board, clicks reach the funnel."""

from __future__ import annotations

from typing import Any

import pytest

from liveroom.client import CardCode, Conflict, LiveroomClient, NotFound
from tests.client.conftest import watch
from tests.liveclient import LiveClient
from tests.servers import ServerProcess

IMAGE = "https://img.example.com/p.jpg"


async def pin(lr: LiveroomClient, room: str, sku: str, **more: Any) -> dict[str, Any]:
    return await lr.cards.pin(room, sku=sku, title=f"商品 {sku}", price=9900, image=IMAGE, **more)


async def test_pinned_card_reaches_viewers(
    server: ServerProcess, lr: LiveroomClient, room: str, viewers: list[LiveClient]
) -> None:
    """A pin answers the board, and a watching viewer gets the same board and version."""
    viewer = await watch(server, room, lr.tokens.mint("v1", room=room), viewers)
    board = await pin(lr, room, "A1", reminder="热卖")
    assert [c["sku"] for c in board["cards"]] == ["A1"]
    event = await viewer.event("cards", version=board["version"])
    assert event["cards"][0]["reminder"] == "热卖"
    assert await lr.cards.board(room) == {"cards": event["cards"], "version": event["version"]}


async def test_click_counts_once_in_the_funnel(lr: LiveroomClient, room: str) -> None:
    """A user's first click counts, the second does not; the funnel shows one click."""
    await pin(lr, room, "A1")
    assert (await lr.cards.click(room, "A1", user="v1"))["counted"] is True
    assert (await lr.cards.click(room, "A1", user="v1"))["counted"] is False
    funnel = await lr.cards.funnel(room)
    assert funnel["cards"]["A1"] == {"shown": 1, "clicked": 1}


async def test_fourth_card_raises_cards_full(lr: LiveroomClient, room: str) -> None:
    """With three pinned, a fourth raises Conflict coded cards_full, with the limit."""
    for sku in ("A1", "A2", "A3"):
        await pin(lr, room, sku)
    with pytest.raises(Conflict) as caught:
        await pin(lr, room, "A4")
    assert caught.value.code is CardCode.CARDS_FULL and caught.value.details["limit"] == 3


async def test_replace_takes_the_slot(lr: LiveroomClient, room: str) -> None:
    """Pinning with replace puts the new card in the named card's slot."""
    for sku in ("A1", "A2"):
        await pin(lr, room, sku)
    board = await pin(lr, room, "B1", replace="A1")
    assert [c["sku"] for c in board["cards"]] == ["B1", "A2"]


async def test_card_linked_to_a_sale_copies_its_stock(lr: LiveroomClient, room: str) -> None:
    """A card naming its flash sale carries the sale's stock."""
    await lr.sales.create(room, sale="s1", sku="A1", title="Tea", price=100, stock=7)
    board = await pin(lr, room, "A1", sale="s1")
    assert board["cards"][0]["stock"] == 7


async def test_unpin_and_unpin_all(lr: LiveroomClient, room: str) -> None:
    """Unpin takes one card down, unpin_all the rest; unpinning again raises NotFound."""
    for sku in ("A1", "A2"):
        await pin(lr, room, sku)
    assert [c["sku"] for c in (await lr.cards.unpin(room, "A1"))["cards"]] == ["A2"]
    assert (await lr.cards.unpin_all(room))["cards"] == []
    with pytest.raises(NotFound):
        await lr.cards.unpin(room, "A2")
