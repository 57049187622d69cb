"""The analytics WebSocket command, ``share``: a viewer shared the live (counted, not
published). Its handler is the feature's (``Analytics``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from liveroom.protocol import Command


@dataclass(slots=True)
class ShareLive(Command):
    """The viewer shared the room (the client's share sheet was used)."""

    type: ClassVar[str] = "share"
