"""The lucky bag's settings.

The two an operator sets stay fields of ``liveroom.config.Settings``, so their flags and
environment variables keep their names (``LIVEROOM_LUCKYBAG_PRIZE_CAP_FEN``,
``LIVEROOM_LUCKYBAG_DAILY_WINS``); ``BagSettings.of`` reads them. The rest are fixed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from liveroom.config import Settings

LEASE_S = 10.0  # how long a claimed draw is ours before another node may take it over
KEYWORD_CACHE_S = 0.25  # how stale the room's current bag may be when matching keyword comments
# (unless a bag event was relayed since, or the comment came after events not relayed yet)
QUIET_CACHE_S = 30.0  # how long a cached bag may tell a comment it is no keyword (``heard``);
# every bag change is a relayed bag event, which drops the cache first
RULES_CACHE = 10_000  # bags whose (immutable) rules this node remembers
STALE_BATCH = 500  # rooms whose current bag the per-pulse upkeep reads in one round
AGED_READS = 100  # rooms whose cache only aged out (``QUIET_CACHE_S``) one pulse reads again at
# least; the rest wait for later pulses (``LuckyBags._due``)


@dataclass(frozen=True, slots=True)
class BagSettings:
    """``prize_cap_fen``: the highest declared prize value a bag may have (Chinese rules cap a
    chance-based prize at ¥50,000). ``daily_wins``: bags one user may win per room per day."""

    prize_cap_fen: int
    daily_wins: int

    @classmethod
    def of(cls, settings: Settings) -> BagSettings:
        return cls(settings.luckybag_prize_cap_fen, settings.luckybag_daily_wins)
