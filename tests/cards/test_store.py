"""CardStore conformance: the same answers from the memory engine and the Redis engine, on one
Redis and on a Redis Cluster."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from liveroom.engine.base import Engine
from liveroom.features.cards import card_store
from liveroom.features.cards.store import Pin
from tests.conftest import EVERY_ENGINE

pytestmark = pytest.mark.parametrize("engine_kind", EVERY_ENGINE, indirect=True)


def card(sku: str, **extra: object) -> bytes:
    return orjson.dumps({"sku": sku, "title": f"item {sku}", "price": 990, **extra})


def skus(cards: list[bytes]) -> list[str]:
    return [orjson.loads(c)["sku"] for c in cards]


async def test_pin_keeps_slot_order_and_limit(engine: Engine) -> None:
    """Cards stay in the order pinned; the fourth is refused at a limit of three."""
    store = card_store(engine)
    for sku in ("a", "b", "c"):
        board = await store.pin("r1", sku, card(sku), 3)
        assert board.status is Pin.OK
    assert skus(board.cards) == ["a", "b", "c"]
    full = await store.pin("r1", "d", card("d"), 3)
    assert full.status is Pin.FULL
    assert skus((await store.board("r1")).cards) == ["a", "b", "c"]


async def test_version_rises_with_every_change(engine: Engine) -> None:
    """Each pin or unpin gives a higher version; refusals do not change it."""
    store = card_store(engine)
    assert (await store.board("r1")).version == 0
    v1 = (await store.pin("r1", "a", card("a"), 3)).version
    v2 = (await store.pin("r1", "a", card("a", reminder="hot"), 3)).version
    await store.unpin("r1", "zzz")
    v3 = (await store.unpin("r1", "a")).version
    assert 0 < v1 < v2 < v3
    assert (await store.board("r1")).version == v3


async def test_pinning_a_pinned_sku_updates_it_in_place(engine: Engine) -> None:
    """Re-pinning a sku changes its card without using a slot."""
    store = card_store(engine)
    await store.pin("r1", "a", card("a"), 2)
    await store.pin("r1", "b", card("b"), 2)
    board = await store.pin("r1", "a", card("a", reminder="only 3 left"), 2)
    assert board.status is Pin.OK
    assert skus(board.cards) == ["a", "b"]
    assert orjson.loads(board.cards[0])["reminder"] == "only 3 left"


async def test_replace_takes_the_slot_of_another_card(engine: Engine) -> None:
    """Replace puts the new card where the old one was."""
    store = card_store(engine)
    for sku in ("a", "b", "c"):
        await store.pin("r1", sku, card(sku), 3)
    board = await store.pin("r1", "x", card("x"), 3, replace="b")
    assert board.status is Pin.OK
    assert skus(board.cards) == ["a", "x", "c"]


async def test_replace_refusals(engine: Engine) -> None:
    """Replacing an unpinned card is not_found; with a sku pinned elsewhere, conflict."""
    store = card_store(engine)
    await store.pin("r1", "a", card("a"), 3)
    await store.pin("r1", "b", card("b"), 3)
    assert (await store.pin("r1", "x", card("x"), 3, replace="nope")).status is Pin.NOT_FOUND
    assert (await store.pin("r1", "a", card("a"), 3, replace="b")).status is Pin.CONFLICT
    assert skus((await store.board("r1")).cards) == ["a", "b"]


async def test_unpin_one_and_all(engine: Engine) -> None:
    """Unpin takes one card down (not_found when absent); an empty sku clears the board."""
    store = card_store(engine)
    for sku in ("a", "b", "c"):
        await store.pin("r1", sku, card(sku), 3)
    board = await store.unpin("r1", "b")
    assert board.status is Pin.OK and skus(board.cards) == ["a", "c"]
    assert (await store.unpin("r1", "b")).status is Pin.NOT_FOUND
    assert (await store.pin("r1", "d", card("d"), 3)).status is Pin.OK
    cleared = await store.unpin("r1")
    assert cleared.status is Pin.OK and cleared.cards == []


async def test_concurrent_pins_never_exceed_the_limit(engine: Engine) -> None:
    """Ten hosts pinning at once: exactly three cards end up pinned."""
    store = card_store(engine)
    boards = await asyncio.gather(*(store.pin("r1", f"s{i}", card(f"s{i}"), 3) for i in range(10)))
    assert sum(b.status is Pin.OK for b in boards) == 3
    assert len((await store.board("r1")).cards) == 3


async def test_marks_count_once_per_user_and_card(engine: Engine) -> None:
    """A user counts once per card and kind; unpinned skus are not counted."""
    store = card_store(engine)
    await store.pin("r1", "a", card("a"), 3)
    await store.pin("r1", "b", card("b"), 3)
    assert await store.mark("r1", "u1", [("a", "clicked"), ("a", "shown")]) == [1, 1]
    assert await store.mark("r1", "u1", [("a", "clicked"), ("b", "shown")]) == [0, 1]
    assert await store.mark("r1", "u2", [("a", "clicked"), ("zz", "clicked")]) == [1, -1]
    assert await store.funnel("r1") == {
        "a": {"shown": 1, "clicked": 2},
        "b": {"shown": 1, "clicked": 0},
    }


async def test_funnel_outlives_the_pin(engine: Engine) -> None:
    """Counts stay after the card is unpinned; clicks on it are then refused."""
    store = card_store(engine)
    await store.pin("r1", "a", card("a"), 3)
    await store.mark("r1", "u1", [("a", "clicked")])
    await store.unpin("r1", "a")
    assert await store.mark("r1", "u2", [("a", "clicked")]) == [-1]
    assert (await store.funnel("r1"))["a"]["clicked"] == 1


async def test_rooms_are_separate(engine: Engine) -> None:
    """One room's cards never show in another."""
    store = card_store(engine)
    await store.pin("r1", "a", card("a"), 3)
    assert (await store.board("r2")).cards == []
