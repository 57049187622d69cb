"""The coupons' own error codes (``docs/coupons.md``, ``docs/protocol.md``).

Refusals of a claim are ``ClaimCode``; refusals of an order because of its coupon
(``coupon_used``, ``coupon_expired``, ``not_applicable``, ``not_yours``) are
``liveroom.errors.CouponCode``, since the features that take orders answer with them too
(through the engine's coupon seam); this feature lists both. Codes shared with other features
(``not_found``, ``not_started``, ``bad_request``) are the core's ``ErrorCode``.
"""

from __future__ import annotations

from liveroom.errors import Code


class ClaimCode(Code):
    """Refusals of a claim."""

    COUPON_GONE = "coupon_gone", 409
    ALREADY_CLAIMED = "already_claimed", 409
    CLAIM_CLOSED = "claim_closed", 409
    NOT_ELIGIBLE = "not_eligible", 403
