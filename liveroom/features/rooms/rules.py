"""What a room's settings may hold, and what of them viewers see."""

from __future__ import annotations

from typing import Any

from liveroom.errors import CommandError, ErrorCode

#: settings a backend may set on a room, with their types
ROOM_FIELDS: dict[str, type | tuple[type, ...]] = {
    "title": str,
    "host_name": str,
    "host": str,  # the host's (shop's) account id: analytics' returning viewers are per host
    "cover": str,
    "allow_anonymous": bool,
    "sensitive_words": list,
    "sensitive_mode": str,
    "comment_cap": int,
    "ended": bool,
}


def validate_room(body: Any) -> dict[str, Any]:
    """Check a room settings update from the API. Unknown fields are refused, not dropped."""
    if not isinstance(body, dict):
        raise CommandError(ErrorCode.BAD_REQUEST, "room settings are a JSON object")
    out: dict[str, Any] = {}
    for key, value in body.items():
        kind = ROOM_FIELDS.get(key)
        if kind is None:
            raise CommandError(ErrorCode.BAD_REQUEST, f"unknown room field {key[:40]!r}")
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            raise CommandError(ErrorCode.BAD_REQUEST, f"{key} has the wrong type")
        if isinstance(value, str) and len(value) > 500:
            raise CommandError(ErrorCode.TOO_LONG, f"{key} is too long")
        out[key] = value
    words = out.get("sensitive_words")
    if words is not None:
        if len(words) > 1000 or not all(isinstance(w, str) and 0 < len(w) <= 50 for w in words):
            raise CommandError(
                ErrorCode.BAD_REQUEST, "sensitive_words: up to 1000 strings of 1 to 50 characters"
            )
    mode = out.get("sensitive_mode")
    if mode is not None and mode not in ("mask", "self"):
        raise CommandError(ErrorCode.BAD_REQUEST, "sensitive_mode is mask or self")
    cap = out.get("comment_cap")
    if cap is not None and not 0 <= cap <= 100_000:
        raise CommandError(ErrorCode.BAD_REQUEST, "comment_cap is between 0 and 100000")
    return out


def public_info(info: dict[str, Any]) -> dict[str, Any]:
    """Room settings viewers may see: the sensitive-word list stays on the server."""
    return {k: v for k, v in info.items() if k not in ("sensitive_words",)}
