"""``lr.coupons``: coupon batches handed out on air, claimed one per user. See
``docs/coupons.md``.

A batch is issued with its terms and eligibility; viewers (or the backend on their behalf)
claim one coupon each; a claimed coupon goes with a buy (``lr.sales.buy(..., coupon=...)``).
"""

from __future__ import annotations

import builtins
from typing import Literal

from liveroom.client.http import Http, Json, fields

BATCH = "/api/rooms/{room}/coupons/{batch}"


class Coupons:
    """Issue, close and claim coupon batches; read them and a user's coupons."""

    def __init__(self, http: Http) -> None:
        self._http = http

    async def issue(
        self,
        room: str,
        *,
        value: int,
        count: int,
        kind: Literal["amount", "percent"] | None = None,
        cap: int | None = None,
        min: int | None = None,
        sku: str | None = None,
        title: str | None = None,
        start: float | None = None,
        end: float | None = None,
        claim_s: float | None = None,
        valid_s: float | None = None,
        valid_until: float | None = None,
        eligibility: Literal["all", "followers", "keyword"] | None = None,
        keyword: str | None = None,
    ) -> Json:
        """Issue a batch of ``count`` coupons; returns its card, with its ``id``.

        ``kind`` ``amount`` (the default: ``value`` fen off) or ``percent`` (``value`` percent
        off, at most ``cap`` fen); ``min`` is the least order (fen) it applies to, ``sku`` the
        one product. Claims run from ``start`` to ``end`` (or for ``claim_s``); a coupon is
        valid for ``valid_s`` after its claim and until ``valid_until``.
        """
        body = fields(
            value=value,
            count=count,
            kind=kind,
            cap=cap,
            min=min,
            sku=sku,
            title=title,
            start=start,
            end=end,
            claim_s=claim_s,
            valid_s=valid_s,
            valid_until=valid_until,
            eligibility=eligibility,
            keyword=keyword,
        )
        answer: Json = await self._http.call(
            "POST", "/api/rooms/{room}/coupons", body, key="batch", room=room
        )
        return answer

    async def list(self, room: str) -> builtins.list[Json]:
        """Every batch of the room, oldest first, as its card (``left``, ``status``)."""
        batches = await self._http.call(
            "GET", "/api/rooms/{room}/coupons", key="batches", room=room
        )
        return [dict(b) for b in batches]

    async def get(self, room: str, batch: str) -> Json:
        """The host's view: ``batch`` (the card), ``audit`` and every claimed ``coupons``."""
        answer: Json = await self._http.call("GET", BATCH, room=room, batch=batch)
        return answer

    async def close(self, room: str, batch: str) -> Json:
        """End the claim window now; coupons already claimed stay valid."""
        answer: Json = await self._http.call(
            "POST", BATCH + "/close", key="batch", room=room, batch=batch
        )
        return answer

    async def claim(self, room: str, batch: str, *, user: str) -> Json:
        """Claim one coupon for ``user``: ``{coupon, batch}``. ``Conflict`` (``coupon_gone``,
        ``already_claimed``, ``claim_closed``, ``not_started``) or ``Forbidden``
        (``not_eligible``) when refused."""
        answer: Json = await self._http.call(
            "POST", BATCH + "/claim", fields(user=user), room=room, batch=batch
        )
        return answer

    async def wallet(self, room: str, user: str) -> builtins.list[Json]:
        """``user``'s coupons in the room, in the order claimed (``status`` claimed or used)."""
        coupons = await self._http.call(
            "GET", "/api/rooms/{room}/coupon-wallets/{user}", key="coupons", room=room, user=user
        )
        return [dict(c) for c in coupons]
