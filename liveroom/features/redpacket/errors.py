"""The red packet's own error codes. Codes other features answer with too (``not_found``,
``not_started``, ``ended``, ``conflict``, ``bad_request``) are the core's ``ErrorCode``; both are
documented in ``docs/protocol.md``."""

from __future__ import annotations

from liveroom.errors import Code


class PacketCode(Code):
    """Codes only red packets answer with."""

    ALREADY_GRABBED = "already_grabbed", 409
    ALL_GRABBED = "all_grabbed", 409
    KEYWORD_REQUIRED = "keyword_required", 403
