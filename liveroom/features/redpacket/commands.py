"""Red-packet WebSocket commands and their handlers; see docs/redpacket.md.

``packet_create`` and ``packet_close`` are the host's; ``packet_grab`` is a viewer's. Each
handler calls the node's ``RedPackets`` it closes over and answers the reply's fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from liveroom.features.redpacket.rules import PacketSpec
from liveroom.protocol import OBJECT_ID, Command, RequestId, ident_field

if TYPE_CHECKING:
    from liveroom.connection.session import Session
    from liveroom.features import Handler
    from liveroom.features.redpacket.actions import Packets


@dataclass(slots=True)
class CreatePacket(Command):
    type: ClassVar[str] = "packet_create"
    role: ClassVar[str] = "host"
    spec: PacketSpec | None = None

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        return cls(rid, PacketSpec.from_body(body))


@dataclass(slots=True)
class _OnePacket(Command):
    """A command about one red packet, named by its id in ``packet``."""

    packet: str = ""

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        return cls(rid, ident_field(body.get("packet"), "packet", OBJECT_ID))


@dataclass(slots=True)
class GrabPacket(_OnePacket):
    type: ClassVar[str] = "packet_grab"


@dataclass(slots=True)
class ClosePacket(_OnePacket):
    type: ClassVar[str] = "packet_close"
    role: ClassVar[str] = "host"


def handlers(packets: Packets) -> Mapping[type[Command], Handler]:
    """The command table of one node's red-packet feature: each handler is bound to
    ``packets``."""

    async def handle_packet_create(session: Session, command: CreatePacket) -> dict[str, Any]:
        assert command.spec is not None
        return await packets.create(session.room.id, command.spec, session.who)

    async def handle_packet_grab(session: Session, command: GrabPacket) -> dict[str, Any]:
        who = session.who
        return await packets.grab(session.room.id, command.packet, who.user, who.name)

    async def handle_packet_close(session: Session, command: ClosePacket) -> dict[str, Any]:
        return await packets.close_packet(session.room.id, command.packet)

    return {
        CreatePacket: handle_packet_create,
        GrabPacket: handle_packet_grab,
        ClosePacket: handle_packet_close,
    }
