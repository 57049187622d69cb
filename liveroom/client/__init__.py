"""A Python client for shop backends: liveroom's HTTP API, and tokens for viewers and hosts.

Install with ``pip install 'liveroom[client]'`` (it adds httpx). ``docs/client-python.md`` has
a complete example; in short::

    from liveroom.client import LiveroomClient, mint_token

    token = mint_token(SECRET, "u42", name="小王", room="room1")   # for the viewer's page

    async with LiveroomClient("https://live.example.com", api_key=API_KEY) as lr:
        await lr.sales.create("room1", sale="s1", sku="A1", title="Tea", price=1990, stock=50,
                              open=True)
        ...
        await lr.orders.confirm("room1", "s1", order_id)   # when the shop has been paid

Modules: ``client`` (``LiveroomClient``), ``errors`` (the exception tree), ``tokens``
(``mint_token``), and one per area of the API: ``rooms``, ``sales``, ``cards``, ``bags``,
``packets``, ``coupons``, ``feed``, ``private``; ``http`` is the one send path they share.
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("httpx") is None:  # pragma: no cover - depends on the install
    raise ImportError("liveroom.client needs httpx: pip install 'liveroom[client]'")

from liveroom.client.client import LiveroomClient  # noqa: E402
from liveroom.client.errors import (  # noqa: E402
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    LiveroomClientError,
    NetworkError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    Unavailable,
    UnexpectedResponse,
)
from liveroom.client.tokens import IssuedToken, Role, mint_token  # noqa: E402
from liveroom.errors import ErrorCode  # noqa: E402
from liveroom.features.cards.errors import CardCode  # noqa: E402
from liveroom.features.comments.errors import CommentCode  # noqa: E402
from liveroom.features.events.errors import FeedCode  # noqa: E402
from liveroom.features.flashsale.errors import SaleCode  # noqa: E402
from liveroom.features.luckybag.errors import BagCode  # noqa: E402
from liveroom.features.private.errors import PrivateCode  # noqa: E402
from liveroom.features.redpacket.errors import PacketCode  # noqa: E402

__all__ = [
    "ApiError",
    "BadRequest",
    "BagCode",
    "CardCode",
    "CommentCode",
    "Conflict",
    "ErrorCode",
    "Forbidden",
    "IssuedToken",
    "LiveroomClient",
    "LiveroomClientError",
    "NetworkError",
    "NotFound",
    "PrivateCode",
    "PacketCode",
    "FeedCode",
    "RateLimited",
    "Role",
    "SaleCode",
    "ServerError",
    "Unauthorized",
    "Unavailable",
    "UnexpectedResponse",
    "mint_token",
]
