"""What private traffic reads from the node's settings, and what it fixes itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from liveroom.config import Settings

#: a room's ``followers`` event goes out at most once per this, per node (the first change at
#: once, the last one always)
FOLLOWERS_THROTTLE_S = 1.0


@dataclass(frozen=True, slots=True)
class PrivateSettings:
    """Seconds throughout."""

    #: how often each node sweeps the booking rounds (``sweep_interval_s``, shared with the
    #: flash sale's sweeper)
    sweep_interval_s: float
    followers_throttle_s: float = FOLLOWERS_THROTTLE_S

    @classmethod
    def of(cls, settings: Settings) -> PrivateSettings:
        return cls(sweep_interval_s=settings.sweep_interval_s)
