"""The error codes only flash sales answer with (``docs/flashsale.md``, ``docs/protocol.md``).

The codes flash sales share with other features (``limit_reached``, ``not_started``, ``ended``,
``not_found``, ``conflict``) are the core's ``ErrorCode``.
"""

from __future__ import annotations

from liveroom.errors import Code


class SaleCode(Code):
    """Refusals of a buy that only a flash sale gives."""

    SOLD_OUT = "sold_out", 409
    INVALID_QUANTITY = "invalid_quantity", 400
