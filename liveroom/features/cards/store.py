"""The product-card store: the pinned cards of every room, and the funnel's once-per-user counts.

``CardStore`` is the contract; ``MemoryCards`` (``store_memory.py``) and ``RedisCards``
(``store_redis.py``, one Lua script per atomic step) fulfil it, and the feature builds the one
for its engine (``card_store``). ``tests/cards/test_store.py`` runs one conformance suite
against both.

The store keeps cards as opaque JSON bytes made by the feature, so the bytes a viewer receives
are encoded once, on the node that pinned them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Pin(StrEnum):
    """What happened to a pin, unpin or mark."""

    OK = "ok"
    FULL = "full"  # no free slot: unpin or replace a card first
    NOT_FOUND = "not_found"  # the card to replace, unpin or mark is not pinned
    CONFLICT = "conflict"  # replacing with a sku that is pinned in another slot


@dataclass(frozen=True, slots=True)
class Board:
    """The pinned cards of a room in slot order, and the version that produced them.

    ``version`` rises with every change; a viewer keeps the board with the highest version it
    has seen, so two changes published in the opposite order still end on the newest board.
    """

    status: Pin
    version: int = 0
    cards: list[bytes] = field(default_factory=list)


class CardStore(Protocol):
    """Pinned product cards per room, with once-per-user "shown" and "clicked" counts."""

    async def pin(self, room: str, sku: str, card: bytes, limit: int, replace: str = "") -> Board:
        """Pin ``card`` (JSON bytes of a card whose sku is ``sku``), in one atomic step.

        A pinned sku is updated in its slot. With ``replace`` the card takes that card's slot
        (``NOT_FOUND`` when it is not pinned, ``CONFLICT`` when ``sku`` sits in another slot).
        Otherwise a new card takes a new slot at the end, or ``FULL`` at ``limit`` cards.
        """
        ...

    async def unpin(self, room: str, sku: str = "") -> Board:
        """Take ``sku`` down (``NOT_FOUND`` if it is not pinned); ``""`` takes every card down."""
        ...

    async def board(self, room: str) -> Board:
        """The current board, read in one step."""
        ...

    async def mark(self, room: str, user: str, marks: list[tuple[str, str]]) -> list[int]:
        """Count ``user`` once in each (sku, "shown" | "clicked") of ``marks``.

        Per mark: 1 when counted now, 0 when already counted, -1 when that sku is not pinned
        (then nothing is counted for it).
        """
        ...

    async def funnel(self, room: str) -> dict[str, dict[str, int]]:
        """``{sku: {"shown": n, "clicked": m}}`` for every card ever counted in the room."""
        ...
