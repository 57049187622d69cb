"""``CouponActions``: what the coupons' commands and routes ask of the feature. ``Coupons``
satisfies it; the commands and routes depend on this protocol, not on the feature module that
builds them, so the package's imports run one way."""

from __future__ import annotations

from typing import Any, Protocol


class CouponActions(Protocol):
    async def issue(self, room: str, body: dict[str, Any]) -> dict[str, Any]: ...

    async def close_batch(self, room: str, batch: str) -> dict[str, Any]: ...

    async def details(self, room: str, batch: str) -> dict[str, Any]: ...

    async def batches(self, room: str) -> list[dict[str, Any]]: ...

    async def claim(self, room: str, batch: str, user: str) -> dict[str, Any]: ...

    async def wallet(self, room: str, user: str) -> dict[str, Any]: ...
