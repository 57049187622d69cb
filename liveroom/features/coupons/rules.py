"""A host's batch request, checked: ``batch_from_body``. No I/O."""

from __future__ import annotations

import secrets
from typing import Any

from liveroom.engine.coupons import CouponKind
from liveroom.errors import CommandError, ErrorCode
from liveroom.features.coupons.store import Batch, Eligibility, round_ms
from liveroom.protocol import OBJECT_ID, ident_field, int_field

MAX_FEN = 100_000_000  # ¥1,000,000: the most a coupon takes off, or asks as minimum spend
MAX_COUNT = 1_000_000
MAX_KEYWORD = 20
MAX_TITLE = 30
YEAR_S = 366 * 86400
MAX_TIME = 4_102_444_800  # 2100-01-01: Unix seconds past this are a mistake

FIELDS = frozenset(
    {"title", "kind", "value", "cap", "min", "sku", "count", "start", "end", "claim_s",
     "valid_s", "valid_until", "eligibility", "keyword"}
)  # fmt: skip


def _seconds(body: dict[str, Any], name: str, high: float) -> float:
    value = body.get(name) or 0
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        raise CommandError(ErrorCode.BAD_REQUEST, f"{name} is a number of seconds, 0 to {high}")
    return round_ms(float(value))


def _choice(body: dict[str, Any], name: str, kind: type[Any], default: str) -> Any:
    value = body.get(name) or default
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise CommandError(ErrorCode.BAD_REQUEST, f"{name} is one of: {allowed}") from None


def batch_from_body(room: str, body: dict[str, Any], now: float) -> Batch:
    """A new batch from the host's request, or ``bad_request`` naming the field at fault.

    The claim window runs from ``start`` (Unix seconds; 0 or absent: at once) to ``end`` (Unix
    seconds) or for ``claim_s`` seconds (neither: until all are claimed or the host closes
    it). Each coupon is valid from its claim for ``valid_s`` seconds and until ``valid_until``
    (Unix seconds), whichever comes first (neither: no end).
    """
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise CommandError(ErrorCode.BAD_REQUEST, f"unknown fields: {', '.join(unknown)}")
    title = body.get("title") or "优惠券"
    if not isinstance(title, str) or len(title) > MAX_TITLE:
        raise CommandError(ErrorCode.BAD_REQUEST, f"title is up to {MAX_TITLE} characters")
    kind = _choice(body, "kind", CouponKind, "amount")
    if kind is CouponKind.PERCENT:
        value = int_field(body.get("value"), "value (percent off)", 1, 100)
        cap = int_field(body.get("cap", 0), "cap", 0, MAX_FEN)
    else:
        value = int_field(body.get("value"), "value (fen off)", 1, MAX_FEN)
        cap = 0
    sku = body.get("sku") or ""
    if sku:
        sku = ident_field(sku, "sku", OBJECT_ID)
    eligibility = _choice(body, "eligibility", Eligibility, "all")
    keyword = body.get("keyword") or ""
    if not isinstance(keyword, str) or len(keyword.strip()) > MAX_KEYWORD:
        raise CommandError(ErrorCode.BAD_REQUEST, f"keyword is up to {MAX_KEYWORD} characters")
    keyword = keyword.strip()
    if (eligibility is Eligibility.KEYWORD) != bool(keyword):
        raise CommandError(
            ErrorCode.BAD_REQUEST, "a keyword goes with eligibility keyword, and only with it"
        )
    # no start: claims open at once, by whichever clock decides the claim (Redis' own on
    # Redis), so a node's clock running ahead cannot make a fresh batch "not started"
    start = _seconds(body, "start", MAX_TIME)
    end = _seconds(body, "end", MAX_TIME)
    claim_s = _seconds(body, "claim_s", YEAR_S)
    if claim_s:
        closes = (start or round_ms(now)) + claim_s
        end = min(end, closes) if end else closes
    if end and end <= (start or now):
        raise CommandError(ErrorCode.BAD_REQUEST, "end must come after start")
    return Batch(
        id="cp" + secrets.token_hex(5),
        room=room,
        title=title,
        kind=kind,
        value=value,
        cap=cap,
        min=int_field(body.get("min", 0), "min", 0, MAX_FEN),
        sku=sku,
        count=int_field(body.get("count"), "count", 1, MAX_COUNT),
        start=start,
        end=end,
        valid_s=_seconds(body, "valid_s", YEAR_S),
        valid_until=_seconds(body, "valid_until", MAX_TIME),
        eligibility=eligibility,
        keyword=keyword,
        created=round_ms(now),
    )
