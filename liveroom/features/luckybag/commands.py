"""The lucky bag's WebSocket commands and their handlers; see docs/luckybag.md.

``bag_create``, ``bag_open``, ``bag_draw`` and ``bag_revoke`` are the host's; ``bag_join`` is a
viewer's. Each handler calls the node's ``LuckyBags`` it closes over and answers the reply's
fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from liveroom.features.luckybag.rules import public_view
from liveroom.protocol import OBJECT_ID, Command, RequestId, ident_field

if TYPE_CHECKING:
    from liveroom.connection.session import Session
    from liveroom.features import Handler
    from liveroom.features.luckybag.actions import Bags

#: what a create request may hold (HTTP refuses anything else; WebSocket leaves it out)
RULE_FIELDS = (
    "prize",
    "value_fen",
    "winners",
    "duration_s",
    "join",
    "keyword",
    "must_stay",
    "open",
)


@dataclass(slots=True)
class CreateBag(Command):
    type: ClassVar[str] = "bag_create"
    role: ClassVar[str] = "host"
    rules: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        return cls(rid, {k: body[k] for k in RULE_FIELDS if k in body})


@dataclass(slots=True)
class OpenBag(Command):
    type: ClassVar[str] = "bag_open"
    role: ClassVar[str] = "host"
    bag: str = ""

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        return cls(rid, ident_field(body.get("bag"), "bag", OBJECT_ID))


@dataclass(slots=True)
class DrawBag(OpenBag):
    type: ClassVar[str] = "bag_draw"


@dataclass(slots=True)
class RevokeBag(OpenBag):
    type: ClassVar[str] = "bag_revoke"


@dataclass(slots=True)
class JoinBag(OpenBag):
    type: ClassVar[str] = "bag_join"
    role: ClassVar[str] = "viewer"


def handlers(bags: Bags) -> Mapping[type[Command], Handler]:
    """The command table of one node's lucky-bag feature: each handler is bound to ``bags``."""

    async def handle_bag_create(session: Session, command: CreateBag) -> dict[str, Any]:
        bag = await bags.create(session.room.id, command.rules, session.who)
        return {"bag": public_view(bag, bags.ctx.now())}

    async def handle_bag_open(session: Session, command: OpenBag) -> dict[str, Any]:
        bag = await bags.open_bag(session.room.id, command.bag)
        return {"bag": public_view(bag, bags.ctx.now())}

    async def handle_bag_draw(session: Session, command: DrawBag) -> dict[str, Any]:
        bag = await bags.draw(session.room.id, command.bag)
        return {"bag": public_view(bag)}

    async def handle_bag_revoke(session: Session, command: RevokeBag) -> dict[str, Any]:
        bag = await bags.revoke(session.room.id, command.bag)
        return {"bag": public_view(bag)}

    async def handle_bag_join(session: Session, command: JoinBag) -> dict[str, Any]:
        answer = await bags.join(session.room.id, command.bag, session.who)
        return {"bag": command.bag, "joined": True, "new": answer.new, "count": answer.count}

    return {
        CreateBag: handle_bag_create,
        OpenBag: handle_bag_open,
        DrawBag: handle_bag_draw,
        RevokeBag: handle_bag_revoke,
        JoinBag: handle_bag_join,
    }
