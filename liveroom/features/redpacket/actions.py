"""``Packets``: what the red packets' commands and routes ask of the feature. ``RedPackets``
satisfies it; the commands and routes depend on this protocol, not on the feature module that
builds them, so the package's imports run one way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from liveroom.auth import Identity
    from liveroom.features.redpacket.rules import PacketSpec


class Packets(Protocol):
    async def create(self, room: str, spec: PacketSpec, who: Identity) -> dict[str, Any]: ...

    async def grab(self, room: str, packet: str, user: str, name: str) -> dict[str, Any]: ...

    async def close_packet(self, room: str, packet: str) -> dict[str, Any]: ...

    async def details(self, room: str, packet: str) -> dict[str, Any]: ...

    async def active(self, room: str) -> list[dict[str, Any]]: ...
