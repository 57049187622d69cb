"""``lr.bags``: lucky bags, prize draws among the viewers who join. See ``docs/luckybag.md``.

A bag is created with fixed rules, opened (the countdown runs, viewers join), and drawn once
at its deadline or earlier by the host; anyone can check the draw from its proof.
"""

from __future__ import annotations

import builtins
from typing import Literal

from liveroom.client.http import Http, Json, fields

BAG = "/api/rooms/{room}/bags/{bag}"


class LuckyBags:
    """Create, open, draw, revoke and join lucky bags; read them and their proof."""

    def __init__(self, http: Http) -> None:
        self._http = http

    async def create(
        self,
        room: str,
        *,
        prize: str,
        value_fen: int,
        duration_s: int,
        winners: int | None = None,
        join: Literal["tap", "keyword"] | None = None,
        keyword: str | None = None,
        must_stay: bool | None = None,
        open: bool = False,
    ) -> Json:
        """Create a bag (and open it with ``open=True``); returns its view, with its ``id``.

        ``value_fen`` is the prize's declared value (``BadRequest`` with code
        ``prize_over_cap`` above the server's cap); ``winners`` defaults to 1; ``join`` is
        ``tap`` (viewers tap, or ``join`` below) or ``keyword`` (viewers comment ``keyword``);
        ``must_stay`` lets only viewers still connected at the draw win.
        """
        body = fields(
            prize=prize,
            value_fen=value_fen,
            duration_s=duration_s,
            winners=winners,
            join=join,
            keyword=keyword,
            must_stay=must_stay,
            open=open or None,
        )
        answer: Json = await self._http.call(
            "POST", "/api/rooms/{room}/bags", body, key="bag", room=room
        )
        return answer

    async def list(self, room: str) -> builtins.list[Json]:
        """The room's recent bags, newest first (up to 50)."""
        bags = await self._http.call("GET", "/api/rooms/{room}/bags", key="bags", room=room)
        return [dict(b) for b in bags]

    async def get(self, room: str, bag: str) -> Json:
        """One bag's view: ``state``, rules, ``count``, ``deadline``; once drawn ``seed`` and
        ``winner_list``."""
        answer: Json = await self._http.call("GET", BAG, key="bag", room=room, bag=bag)
        return answer

    async def open(self, room: str, bag: str) -> Json:
        """Open the bag: the countdown starts and ``seed_hash`` is published. ``Conflict`` if
        another bag of the room is open."""
        answer: Json = await self._http.call("POST", BAG + "/open", key="bag", room=room, bag=bag)
        return answer

    async def draw(self, room: str, bag: str) -> Json:
        """Draw the winners now, before the deadline; exactly once over every node. Returns
        the drawn view (``winner_list``, ``seed``); ``Conflict`` if it cannot be drawn."""
        answer: Json = await self._http.call("POST", BAG + "/draw", key="bag", room=room, bag=bag)
        return answer

    async def revoke(self, room: str, bag: str) -> Json:
        """Withdraw the bag: no draw. Allowed until its deadline; ``Conflict`` after."""
        answer: Json = await self._http.call("POST", BAG + "/revoke", key="bag", room=room, bag=bag)
        return answer

    async def join(self, room: str, bag: str, *, user: str, name: str | None = None) -> Json:
        """Join ``user`` to an open tap bag; idempotent: ``{bag, joined, new, count}`` with
        ``new`` false the second time. ``Conflict`` (``not_started``, ``ended``,
        ``limit_reached``) or ``BadRequest`` for a keyword bag."""
        answer: Json = await self._http.call(
            "POST", BAG + "/join", fields(user=user, name=name), room=room, bag=bag
        )
        return answer

    async def proof(self, room: str, bag: str) -> Json:
        """What anyone needs to check the draw (``docs/verify_luckybag.py``): ``seed_hash``,
        ``seed``, sorted ``participants``, ``ineligible``, ``result`` and the ``recipe``."""
        answer: Json = await self._http.call("GET", BAG + "/proof", room=room, bag=bag)
        return answer
