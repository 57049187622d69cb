"""The comment commands: parsed and checked here, answered by ``Comments`` (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from liveroom.protocol import (
    USER_ID,
    Command,
    RequestId,
    ident_field,
    int_field,
    text_field,
)


@dataclass(slots=True)
class SendComment(Command):
    type: ClassVar[str] = "comment"
    text: str = ""

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        return cls(rid, text_field(body, "text"))


@dataclass(slots=True)
class SendLike(Command):
    type: ClassVar[str] = "like"
    count: int = 1

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        count = body.get("count", 1)
        return cls(rid, int_field(count, "count", 1, 100))


@dataclass(slots=True)
class PostSystem(Command):
    type: ClassVar[str] = "system"
    role: ClassVar[str] = "host"
    text: str = ""

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        return cls(rid, text_field(body, "text"))


@dataclass(slots=True)
class MuteUser(Command):
    type: ClassVar[str] = "mute"
    role: ClassVar[str] = "host"
    user: str = ""
    seconds: int = 600

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        return cls(
            rid,
            ident_field(body.get("user"), "user", USER_ID),
            int_field(body.get("seconds", 600), "seconds", 1, 30 * 86400),
        )


@dataclass(slots=True)
class UnmuteUser(Command):
    type: ClassVar[str] = "unmute"
    role: ClassVar[str] = "host"
    user: str = ""

    @classmethod
    def parse(cls, rid: RequestId, body: dict[str, Any]) -> Command:
        return cls(rid, ident_field(body.get("user"), "user", USER_ID))
