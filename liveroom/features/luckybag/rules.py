"""Lucky-bag rules, the public view of a bag, and the winner recipe. No I/O.

The recipe, exactly (``docs/verify_luckybag.py`` is an independent copy of it)::

    seed_hash = sha256(seed.encode("ascii")).hexdigest()      # published when the bag opens
    pool = sorted(set(participants) - set(ineligible))        # user ids, sorted by code point
    winners = []
    for i in range(min(number_of_winners, len(pool))):
        digest = sha256(f"{seed}:{i}".encode("ascii")).digest()
        winners.append(pool.pop(int.from_bytes(digest, "big") % len(pool)))

``ineligible`` lists participants who could not win at draw time, each with its reason:
``absent`` (the bag asks for viewers still in the room, and the user had no live connection on
any node) or ``daily_cap`` (the user already won the room's daily number of bags).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from liveroom.errors import CommandError, ErrorCode
from liveroom.features.luckybag.errors import BagCode
from liveroom.features.luckybag.store import Bag, BagState

RECIPE = (
    "pool = sorted(set(participants) - set(ineligible)); "
    "for i in range(min(winners, len(pool))): "
    "j = int.from_bytes(sha256(f'{seed}:{i}'.encode()).digest(), 'big') % len(pool); "
    "result.append(pool.pop(j)). "
    "Check first: sha256(seed.encode()).hexdigest() == seed_hash."
)
MAX_WINNERS = 1000
MAX_DURATION_S = 24 * 3600
KEYWORD_MAX = 20
PRIZE_MAX = 100
#: the daily win cap counts calendar days in China Standard Time
DAY_OFFSET_S = 8 * 3600
JOIN_KINDS = ("tap", "keyword")


def seed_hash(seed: str) -> str:
    return hashlib.sha256(seed.encode("ascii")).hexdigest()


def pick_winners(
    seed: str, participants: list[str], ineligible: list[str], count: int
) -> list[str]:
    """The winners of a bag: a deterministic function of the seed and the sorted pool."""
    pool = sorted(set(participants) - set(ineligible))
    winners = []
    for i in range(min(count, len(pool))):
        digest = hashlib.sha256(f"{seed}:{i}".encode("ascii")).digest()
        winners.append(pool.pop(int.from_bytes(digest, "big") % len(pool)))
    return winners


def day_of(now: float) -> str:
    """The calendar day a win counts towards."""
    return time.strftime("%Y-%m-%d", time.gmtime(now + DAY_OFFSET_S))


def validate_rules(body: dict[str, Any], prize_cap_fen: int) -> dict[str, Any]:
    """The rules of a new bag from a create request. They never change afterwards."""
    prize = body.get("prize")
    if not isinstance(prize, str) or not 0 < len(prize.strip()) <= PRIZE_MAX:
        raise CommandError(ErrorCode.BAD_REQUEST, f"prize is 1 to {PRIZE_MAX} characters")
    value = body.get("value_fen")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CommandError(
            ErrorCode.BAD_REQUEST, "value_fen (the declared prize value, in fen) is a whole number"
        )
    if value > prize_cap_fen:
        raise CommandError(
            BagCode.PRIZE_OVER_CAP,
            f"declared prize value {value} fen is above the cap of {prize_cap_fen} fen",
            cap_fen=prize_cap_fen,
        )
    winners = _int(body.get("winners", 1), "winners", 1, MAX_WINNERS)
    duration = _int(body.get("duration_s"), "duration_s", 1, MAX_DURATION_S)
    join = body.get("join", "tap")
    if join not in JOIN_KINDS:
        raise CommandError(ErrorCode.BAD_REQUEST, "join is tap or keyword")
    keyword = body.get("keyword")
    if join == "keyword":
        if not isinstance(keyword, str) or not 0 < len(keyword.strip()) <= KEYWORD_MAX:
            raise CommandError(
                ErrorCode.BAD_REQUEST,
                f"a keyword bag needs a keyword of 1 to {KEYWORD_MAX} characters",
            )
        keyword = keyword.strip()
    elif keyword is not None:
        raise CommandError(ErrorCode.BAD_REQUEST, "keyword is only for join: keyword")
    must_stay = body.get("must_stay", False)
    if not isinstance(must_stay, bool):
        raise CommandError(ErrorCode.BAD_REQUEST, "must_stay is true or false")
    return {
        "prize": prize.strip(),
        "value_fen": value,
        "winners": winners,
        "duration_s": duration,
        "join": join,
        "keyword": keyword,
        "must_stay": must_stay,
    }


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CommandError(ErrorCode.BAD_REQUEST, f"{name} is a whole number from {low} to {high}")
    return value


def public_view(bag: Bag, now: float | None = None) -> dict[str, Any]:
    """What anyone may see of a bag: its rules, state and count; the seed once it is drawn."""
    view: dict[str, Any] = {
        "id": bag.id,
        "room": bag.room,
        "state": bag.state.value,
        **bag.rules,
        "created_at": bag.created_at,
        "count": bag.count,
    }
    if bag.opened_at is not None:
        view["opened_at"] = bag.opened_at
        view["deadline"] = bag.deadline
        view["seed_hash"] = bag.seed_hash
        if bag.state is BagState.OPEN and now is not None and bag.deadline is not None:
            view["left_s"] = max(0.0, round(bag.deadline - now, 3))
    if bag.state is BagState.DRAWN and bag.result is not None:
        view["drawn_at"] = bag.drawn_at
        view["seed"] = bag.seed
        view["winner_list"] = bag.result["winners"]
        view["ineligible"] = len(bag.result.get("ineligible", {}))
    if bag.revoked_at is not None:
        view["revoked_at"] = bag.revoked_at
    return view


def proof(bag: Bag, participants: list[str]) -> dict[str, Any]:
    """Everything needed to recompute a drawn bag's winners (what ``verify_luckybag.py`` reads)."""
    drawn = bag.state is BagState.DRAWN and bag.result is not None
    out: dict[str, Any] = {
        "room": bag.room,
        "bag": bag.id,
        "state": bag.state.value,
        "winners": bag.rules["winners"],
        "seed_hash": bag.seed_hash,
        "seed": bag.seed if drawn else None,
        "participants": sorted(participants),
        "ineligible": bag.result.get("ineligible", {}) if drawn and bag.result else {},
        "result": [w["id"] for w in bag.result["winners"]] if drawn and bag.result else None,
        "recipe": RECIPE,
    }
    return out
