"""What group buys read from the node's settings, in the units the feature works in.

They share the flash sale's knobs (``LIVEROOM_SALE_PAYMENT_S``, ``LIVEROOM_SALE_STOCK_THROTTLE_MS``,
``LIVEROOM_SWEEP_INTERVAL_S``): a shop tunes payment time and event rates once for both.
"""

from __future__ import annotations

from dataclasses import dataclass

from liveroom.config import Settings


@dataclass(frozen=True, slots=True)
class GroupSettings:
    """Seconds throughout."""

    #: a new deal's default time to pay for a formed group's order (``sale_payment_s``)
    payment_s: float
    #: a deal's stock and group progress go out at most once per this, over all nodes
    #: (``sale_stock_throttle_ms``)
    throttle_s: float
    #: how often each node sweeps unfilled groups and unpaid orders (``sweep_interval_s``)
    sweep_interval_s: float

    @classmethod
    def of(cls, settings: Settings) -> GroupSettings:
        return cls(
            payment_s=settings.sale_payment_s,
            throttle_s=settings.sale_stock_throttle_ms / 1000,
            sweep_interval_s=settings.sweep_interval_s,
        )
