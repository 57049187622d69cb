"""Coupons (优惠券): batches issued on air, claimed one per user, used by an order once.

``Coupons`` is the feature a node runs (``feature.py``); ``commands.py`` and ``routes.py`` are
its WebSocket commands and HTTP endpoints, ``rules.py`` the host's request checked,
``store.py`` the ``CouponStore`` protocol with its memory and Redis implementations beside it
(``lua/coupon_*.lua``), and ``errors.py`` its claim codes. A claimed coupon's state, and its
use and return by orders, are the engine's seam (``liveroom/engine/coupons.py``,
``liveroom/engine/lua/coupon_lib.lua``). See ``docs/coupons.md``.
"""

from __future__ import annotations

from liveroom.features.coupons.errors import ClaimCode
from liveroom.features.coupons.feature import Coupons
from liveroom.features.coupons.stores import coupon_store

__all__ = ["ClaimCode", "Coupons", "coupon_store"]
