"""MemoryCards: product cards in this process's memory, for the memory engine (see ``store.py``
for the contract).

Atomic the same way as the memory engine: no method awaits between reading and writing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from liveroom.features.cards.store import Board, CardStore, Pin


@dataclass(slots=True)
class _Board:
    version: int = 0
    slots: list[str] = field(default_factory=list)  # pinned skus in slot order
    cards: dict[str, bytes] = field(default_factory=dict)
    marked: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (sku, kind) -> users


class MemoryCards:
    """Satisfies ``CardStore``."""

    def __init__(self) -> None:
        self._rooms: dict[str, _Board] = {}

    def _board(self, room: str) -> _Board:
        return self._rooms.setdefault(room, _Board())

    @staticmethod
    def _view(state: _Board, status: Pin = Pin.OK) -> Board:
        return Board(status, state.version, [state.cards[sku] for sku in state.slots])

    async def pin(self, room: str, sku: str, card: bytes, limit: int, replace: str = "") -> Board:
        state = self._board(room)
        if replace and replace != sku:
            if replace not in state.cards:
                return Board(Pin.NOT_FOUND)
            if sku in state.cards:
                return Board(Pin.CONFLICT)
            state.slots[state.slots.index(replace)] = sku
            del state.cards[replace]
        elif sku not in state.cards:
            if len(state.slots) >= limit:
                return Board(Pin.FULL)
            state.slots.append(sku)
        state.cards[sku] = card
        state.version += 1
        return self._view(state)

    async def unpin(self, room: str, sku: str = "") -> Board:
        state = self._board(room)
        if sku:
            if sku not in state.cards:
                return Board(Pin.NOT_FOUND)
            state.slots.remove(sku)
            del state.cards[sku]
        else:
            state.slots.clear()
            state.cards.clear()
        state.version += 1
        return self._view(state)

    async def board(self, room: str) -> Board:
        return self._view(self._board(room))

    async def mark(self, room: str, user: str, marks: list[tuple[str, str]]) -> list[int]:
        state = self._board(room)
        out = []
        for sku, kind in marks:
            if sku not in state.cards:
                out.append(-1)
                continue
            users = state.marked.setdefault((sku, kind), set())
            if user in users:
                out.append(0)
            else:
                users.add(user)
                out.append(1)
        return out

    async def funnel(self, room: str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (sku, kind), users in self._board(room).marked.items():
            out.setdefault(sku, {"shown": 0, "clicked": 0})[kind] = len(users)
        return out


#: the static conformance check (mypy): a ``MemoryCards`` is a ``CardStore``
_satisfies: Callable[[], CardStore] = MemoryCards
