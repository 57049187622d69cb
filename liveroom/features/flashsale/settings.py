"""What flash sales read from the node's settings, in the units the feature works in.

The fields stay in ``liveroom.config.Settings`` (their ``LIVEROOM_*`` names are public);
``sweep_interval_s`` is shared with the lucky bags' timers.
"""

from __future__ import annotations

from dataclasses import dataclass

from liveroom.config import Settings


@dataclass(frozen=True, slots=True)
class SaleSettings:
    """Seconds throughout."""

    #: a new sale's default time to pay for a reserved order (``sale_payment_s``)
    payment_s: float
    #: a sale's stock goes out at most once per this, over all nodes (``sale_stock_throttle_ms``)
    stock_throttle_s: float
    #: how often each node sweeps expired orders (``sweep_interval_s``)
    sweep_interval_s: float

    @classmethod
    def of(cls, settings: Settings) -> SaleSettings:
        return cls(
            payment_s=settings.sale_payment_s,
            stock_throttle_s=settings.sale_stock_throttle_ms / 1000,
            sweep_interval_s=settings.sweep_interval_s,
        )
