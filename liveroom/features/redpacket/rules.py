"""Red-packet rules: the split, a validated request, and what viewers see of a packet. No I/O.

The total is split up front by the double-average method (``split``): every packet at least
1 fen, the sum exact. Viewers' rule for ``packet`` events: ``state: "finished"`` is final, and
``left`` only goes down (progress from several nodes may arrive out of order).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import orjson

from liveroom.errors import CommandError, ErrorCode
from liveroom.features.redpacket.store import Closed, Tally
from liveroom.protocol import int_field

MAX_PACKETS = 10_000  # packets in one red packet
MAX_TOTAL_FEN = 100_000_000  # ¥1,000,000
MAX_KEYWORD = 20
MAX_DELAY_S = 86_400

_rng = random.SystemRandom()


def split(total: int, count: int, rng: random.Random = _rng) -> list[int]:
    """Split ``total`` fen into ``count`` packets by the double-average method.

    Each packet but the last is drawn uniformly from 1 to just under twice the mean of what is
    left, capped so every later packet can still get 1 fen; the last takes the rest. Every
    packet is at least 1 fen and the sum is exactly ``total``. Needs ``total >= count >= 1``.
    """
    if count < 1 or total < count:
        raise ValueError("need total >= count >= 1")
    amounts = []
    left = total
    for remaining in range(count, 1, -1):
        high = min(2 * left // remaining - 1, left - (remaining - 1))
        amount = rng.randint(1, max(1, high))
        amounts.append(amount)
        left -= amount
    amounts.append(left)
    return amounts


@dataclass(frozen=True, slots=True)
class PacketSpec:
    """A validated red packet request."""

    total: int
    count: int
    keyword: str
    title: str
    delay_s: int

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> PacketSpec:
        total = int_field(body.get("total"), "total", 1, MAX_TOTAL_FEN)
        count = int_field(body.get("count"), "count", 1, MAX_PACKETS)
        if total < count:
            raise CommandError(ErrorCode.BAD_REQUEST, "total must give every packet 1 fen")
        keyword = body.get("keyword") or ""
        if not isinstance(keyword, str) or len(keyword.strip()) > MAX_KEYWORD:
            raise CommandError(ErrorCode.BAD_REQUEST, f"keyword is up to {MAX_KEYWORD} characters")
        title = body.get("title") or "红包"
        if not isinstance(title, str) or len(title) > 30:
            raise CommandError(ErrorCode.BAD_REQUEST, "title is up to 30 characters")
        delay = int_field(body.get("delay_s", 0), "delay_s", 0, MAX_DELAY_S)
        return cls(total, count, keyword.strip(), title, delay)


def public(
    meta: bytes, left: int, now: float, finished: bool = False, closed_at: float = 0.0
) -> dict[str, Any]:
    """A packet as viewers see it: its fixed fields plus ``left`` and ``state`` (and
    ``closed_at`` when the host closed it)."""
    packet: dict[str, Any] = orjson.loads(meta)
    packet["left"] = left
    if finished or left == 0 or closed_at:
        packet["state"] = "finished"
    else:
        packet["state"] = "scheduled" if now < packet["open_at"] else "open"
    if closed_at:
        packet["closed_at"] = closed_at
    return packet


def refund_of(closed: Closed) -> dict[str, Any]:
    return {"fen": closed.refund_fen, "packets": closed.refunded}


def summary_of(tally: Tally) -> dict[str, Any]:
    return {
        "grabbed": tally.grabbed,
        "grabbed_fen": tally.grabbed_fen,
        "best": {
            "user": {"id": tally.best_user, "name": tally.best_name},
            "amount": tally.best_fen,
        },
        "took_s": round(max(tally.last_at - tally.first_at, 0), 3),
    }
