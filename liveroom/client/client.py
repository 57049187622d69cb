"""``LiveroomClient``: the shop backend's handle on one liveroom server's HTTP API."""

from __future__ import annotations

from types import TracebackType

import httpx

from liveroom.client.bags import LuckyBags
from liveroom.client.cards import Cards
from liveroom.client.coupons import Coupons
from liveroom.client.deals import Deals, GroupOrders
from liveroom.client.errors import unexpected
from liveroom.client.feed import Feed
from liveroom.client.http import Http
from liveroom.client.packets import RedPackets
from liveroom.client.private import Private
from liveroom.client.rooms import Rooms
from liveroom.client.sales import Orders, Sales
from liveroom.client.tokens import Tokens

DEFAULT_TIMEOUT_S = 10.0


class LiveroomClient:
    """Every call of liveroom's HTTP API, as async methods grouped by what they act on.

    Use it as an async context manager, one per server for the backend's whole run (it keeps
    connections open)::

        async with LiveroomClient("https://live.example.com", api_key=KEY) as lr:
            sale = await lr.sales.create("room1", sku="A1", title="Tea", price=1990, stock=50)

    ``api_key`` is the server's ``LIVEROOM_API_KEY`` (a host token works too, for what a host
    may do in its rooms). ``secret`` (``LIVEROOM_SECRET``) is needed only by
    ``lr.tokens.mint``. ``http``: an ``httpx.AsyncClient`` of your own (custom TLS, proxies,
    ``httpx.ASGITransport``); the client sends through it and leaves it open. Without one, it
    makes its own with ``timeout`` seconds per call, and closes it on exit.

    Namespaces: ``rooms``, ``sales``, ``orders``, ``deals``, ``group_orders``, ``cards``,
    ``bags``, ``packets``, ``coupons``, ``tokens``, ``feed``, ``private``.
    Each method is one HTTP call; none retries by itself. Errors raise
    ``LiveroomClientError`` subclasses (``liveroom.client.errors``).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        secret: str | None = None,
        http: httpx.AsyncClient | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_S,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is the server's LIVEROOM_API_KEY (or a token); it is empty")
        self._owned = http is None
        client = http if http is not None else httpx.AsyncClient(timeout=timeout)
        self._http = Http(base_url, api_key, client)
        self.rooms = Rooms(self._http)
        self.sales = Sales(self._http)
        self.orders = Orders(self._http)
        self.deals = Deals(self._http)
        self.group_orders = GroupOrders(self._http)
        self.cards = Cards(self._http)
        self.bags = LuckyBags(self._http)
        self.packets = RedPackets(self._http)
        self.coupons = Coupons(self._http)
        self.tokens = Tokens(self._http, secret)
        self.feed = Feed(self._http)
        self.private = Private(self._http)

    @property
    def base_url(self) -> str:
        """Where the calls go, without a trailing slash."""
        return self._http.base_url

    async def ready(self) -> bool:
        """Whether the server takes work now (``GET /readyz``): False while it starts, drains,
        or cannot reach Redis. Raises ``NetworkError`` when it does not answer at all."""
        response = await self._http.send("GET", "/readyz")
        if response.status_code in (200, 503):
            return response.status_code == 200
        raise unexpected(response, "readiness answered neither 200 nor 503")

    async def aclose(self) -> None:
        """Close the connections, unless the ``httpx.AsyncClient`` was given to us."""
        if self._owned:
            await self._http.client.aclose()

    async def __aenter__(self) -> LiveroomClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
