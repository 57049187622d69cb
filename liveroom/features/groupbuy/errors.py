"""The error codes only group buys answer with (``docs/groupbuy.md``, ``docs/protocol.md``).

Unknown deals, windows and the per-user limit use the core's ``not_found``, ``not_started``,
``ended`` and ``limit_reached``. Wire values are unique over every feature, so a group buy's
own "sold out" and "bad quantity" are ``deal_sold_out`` and ``bad_quantity`` (the flash sale
owns ``sold_out`` and ``invalid_quantity``).
"""

from __future__ import annotations

from liveroom.errors import Code


class GroupCode(Code):
    """Refusals of a place in a group, and of a quantity, that only group buys give."""

    DEAL_SOLD_OUT = "deal_sold_out", 409
    BAD_QUANTITY = "bad_quantity", 400
    NO_GROUP = "no_group", 404
    GROUP_FULL = "group_full", 409
    GROUP_NOT_OPEN = "group_not_open", 409
    ALREADY_IN_GROUP = "already_in_group", 409
    NO_OPEN_GROUP = "no_open_group", 409
