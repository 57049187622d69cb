"""``lr.cards``: the product cards pinned in a room (three at most). See ``docs/cards.md``.

Every change goes to every viewer as one ``cards`` event with the whole board and a
``version``; the answers here carry the same board.
"""

from __future__ import annotations

from liveroom.client.http import Http, Json, fields

CARDS = "/api/rooms/{room}/cards"


class Cards:
    """Pin, replace and unpin cards; count clicks; read the shown/clicked funnel."""

    def __init__(self, http: Http) -> None:
        self._http = http

    async def board(self, room: str) -> Json:
        """The pinned cards in slot order and the board's ``version``: ``{cards, version}``."""
        answer: Json = await self._http.call("GET", CARDS, room=room)
        return answer

    async def pin(
        self,
        room: str,
        *,
        sku: str,
        title: str,
        price: int,
        image: str,
        reminder: str | None = None,
        stock: int | None = None,
        sale: str | None = None,
        replace: str | None = None,
    ) -> Json:
        """Pin a card (or update the pinned card of ``sku`` in its slot); returns the board.

        ``price`` in fen; ``image`` an http(s) URL or a /path; ``reminder`` a short tag (热卖).
        ``sale`` links the flash sale selling this sku: its stock is copied in and viewers
        follow it live (``NotFound`` if no such sale, ``Conflict`` if it sells another sku).
        ``replace`` names a pinned card whose slot this one takes. Raises ``Conflict`` with
        code ``cards_full`` when three are pinned and none is replaced.
        """
        body = fields(
            sku=sku,
            title=title,
            price=price,
            image=image,
            reminder=reminder,
            stock=stock,
            sale=sale,
            replace=replace,
        )
        answer: Json = await self._http.call("POST", CARDS, body, room=room)
        return answer

    async def unpin(self, room: str, sku: str) -> Json:
        """Take one card down (``NotFound`` if it is not pinned); returns the board."""
        answer: Json = await self._http.call("DELETE", CARDS + "/{sku}", room=room, sku=sku)
        return answer

    async def unpin_all(self, room: str) -> Json:
        """Take every card down; returns the empty board."""
        answer: Json = await self._http.call("DELETE", CARDS, room=room)
        return answer

    async def click(self, room: str, sku: str, *, user: str) -> Json:
        """Count ``user``'s click on a pinned card for the funnel, once per user and card:
        ``{sku, counted}``, ``counted`` true the first time. ``NotFound`` if not pinned."""
        answer: Json = await self._http.call(
            "POST", CARDS + "/{sku}/click", fields(user=user), room=room, sku=sku
        )
        return answer

    async def funnel(self, room: str) -> Json:
        """Distinct users each card was shown to and clicked by, for the room's whole live:
        ``{room, cards: {sku: {shown, clicked}}}``."""
        answer: Json = await self._http.call("GET", CARDS + "/funnel", room=room)
        return answer
