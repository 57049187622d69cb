"""The error code only product cards answer with (``docs/cards.md``, ``docs/protocol.md``).

Cards also answer with the core's ``not_found``, ``conflict`` and ``bad_request``.
"""

from __future__ import annotations

from liveroom.errors import Code


class CardCode(Code):
    """Refusals only a pin gives."""

    CARDS_FULL = "cards_full", 409
