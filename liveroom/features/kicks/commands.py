"""The kick commands: parsed and checked here, answered by ``KicksFeature`` (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from liveroom.protocol import USER_ID, Command, RequestId, ident_field, int_field

#: a kick lasts 1 second to 30 days; 600 seconds unless given
MAX_KICK_S = 30 * 86400
DEFAULT_KICK_S = 600


def kick_seconds(body: dict[str, Any]) -> int:
    """The ``seconds`` field of a kick, checked."""
    return int_field(body.get("seconds", DEFAULT_KICK_S), "seconds", 1, MAX_KICK_S)


@dataclass(slots=True)
class KickUser(Command):
    type: ClassVar[str] = "kick"
    role: ClassVar[str] = "host"
    user: str = ""
    seconds: int = DEFAULT_KICK_S

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        return cls(rid, ident_field(body.get("user"), "user", USER_ID), kick_seconds(body))


@dataclass(slots=True)
class UnkickUser(Command):
    type: ClassVar[str] = "unkick"
    role: ClassVar[str] = "host"
    user: str = ""

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        return cls(rid, ident_field(body.get("user"), "user", USER_ID))
