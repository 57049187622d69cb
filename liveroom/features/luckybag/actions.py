"""``Bags``: what the lucky bags' commands and routes ask of the feature. ``LuckyBags``
satisfies it; the commands and routes depend on this protocol, not on the feature module that
builds them, so the package's imports run one way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from liveroom.auth import Identity
    from liveroom.context import NodeContext
    from liveroom.features.luckybag.store import Answer, Bag, BagStore


class Bags(Protocol):
    @property
    def ctx(self) -> NodeContext: ...

    @property
    def store(self) -> BagStore: ...

    async def create(self, room: str, body: dict[str, Any], who: Identity) -> Bag: ...

    async def open_bag(self, room: str, bag_id: str) -> Bag: ...

    async def draw(self, room: str, bag_id: str) -> Bag: ...

    async def revoke(self, room: str, bag_id: str) -> Bag: ...

    async def get(self, room: str, bag_id: str) -> Bag: ...

    async def proof(self, room: str, bag_id: str) -> dict[str, Any]: ...

    async def join(
        self, room: str, bag_id: str, who: Identity, *, keyword: bool = False
    ) -> Answer: ...
