"""The order calls every kind of order shares: read one, confirm its payment, cancel it.

A flash sale's orders (``lr.orders``) and a formed group's (``lr.group_orders``) live the same
life on the server (``liveroom.engine.orders``) under the same three endpoints, below their
sale's or deal's path; ``OrderCalls`` makes those calls once for both.
"""

from __future__ import annotations

from liveroom.client.http import Http, Json


class OrderCalls:
    """The order endpoints under ``path`` (``.../{<owner>}/orders/{order}``, as the server
    spells it), ``owner`` naming the sale's or the deal's id in it."""

    def __init__(self, http: Http, path: str, owner: str) -> None:
        self._http = http
        self._path = path
        self._owner = owner

    def _ids(self, room: str, owner: str, order: str) -> dict[str, str]:
        return {"room": room, self._owner: owner, "order": order}

    async def get(self, room: str, owner: str, order: str) -> Json:
        """The order (``GET``): its ``status`` and the rest of its public form."""
        answer: Json = await self._http.call(
            "GET", self._path, None, key="order", **self._ids(room, owner, order)
        )
        return answer

    async def confirm(self, room: str, owner: str, order: str) -> Json:
        """Mark it paid (API key only): ``{"order", "stock"}``, else ``Conflict``."""
        answer: Json = await self._http.call(
            "POST", self._path + "/confirm", None, **self._ids(room, owner, order)
        )
        return answer

    async def cancel(self, room: str, owner: str, order: str) -> Json:
        """Cancel it while unpaid: ``{"order", "stock"}``, else ``Conflict``."""
        answer: Json = await self._http.call(
            "POST", self._path + "/cancel", None, **self._ids(room, owner, order)
        )
        return answer
