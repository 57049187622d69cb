"""The codes comments answer with (documented in ``docs/protocol.md``)."""

from __future__ import annotations

from liveroom.errors import Code


class CommentCode(Code):
    """Refusals of a comment or a system message."""

    EMPTY = "empty", 400
    MUTED = "muted", 403
    DUPLICATE = "duplicate", 409
