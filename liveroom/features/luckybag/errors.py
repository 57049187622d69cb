"""The lucky bag's own error codes. Codes other features answer with too (``not_found``,
``conflict``, ``not_started``, ``ended``, ``limit_reached``, ``bad_request``) are the core's
``ErrorCode``; both are documented in ``docs/protocol.md``."""

from __future__ import annotations

from liveroom.errors import Code


class BagCode(Code):
    """Codes only the lucky bag answers with."""

    PRIZE_OVER_CAP = "prize_over_cap", 400
