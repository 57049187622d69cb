"""Tokens: signed by the shop's backend (JWT, HS256), checked here.

Claims: ``sub`` user id, ``name`` display name, ``room`` (one id, or ``"*"`` for every room) or
``rooms`` (a list), ``role`` (viewer, host, admin) and ``exp``. Optional audience claims for the
host's analytics (``TRAITS``): ``region``, ``age`` (an age band), ``gender`` (short strings) and
``follower`` (true when the viewer follows the host); anything else there is ignored. Viewer
tokens and the backend's API key are different things: the API key never opens a WebSocket, a
viewer token never calls a backend-only endpoint.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

import jwt

from liveroom.errors import AuthError, CloseCode
from liveroom.protocol import ROLE_RANK, USER_ID

ALGORITHM = "HS256"
#: optional token claims kept on the ``Identity`` for the host's analytics, only as aggregates
TRAITS = ("region", "age", "gender", "follower")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is on the other end of a connection or request."""

    user: str
    name: str
    role: str
    rooms: tuple[str, ...]
    expires: float | None = None
    #: the optional audience claims present (``TRAITS``), as ``(claim, value)`` pairs
    traits: tuple[tuple[str, str], ...] = ()
    #: worked out once, not per call, since every comment asks: ``may("host")`` (twice: the
    #: comment's priority, and whether the host's analytics count it), and whether the viewer
    #: is anonymous, a read-only guest (its role check)
    staff: bool = field(init=False, repr=False, compare=False)
    anonymous: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "staff", self.may("host"))
        object.__setattr__(self, "anonymous", self.role == "anonymous")

    def trait(self, name: str) -> str:
        """The value of audience claim ``name``, or "" when the token has none."""
        for key, value in self.traits:
            if key == name:
                return value
        return ""

    def may(self, role: str) -> bool:
        """Whether this identity holds ``role`` or a higher one."""
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[role]

    def in_room(self, room: str) -> bool:
        return "*" in self.rooms or room in self.rooms

    def public(self) -> dict[str, str]:
        return {"id": self.user, "name": self.name}


def mint(
    secret: str,
    user: str,
    *,
    name: str | None = None,
    room: str | list[str] = "*",
    role: str = "viewer",
    ttl_s: float = 3600,
    now: float | None = None,
    traits: dict[str, str | bool] | None = None,
) -> str:
    """Sign a token. The shop's backend does the same with its own JWT library."""
    if role not in ROLE_RANK:
        raise ValueError(f"role must be one of {sorted(ROLE_RANK)}")
    issued = int(now if now is not None else time.time())
    claims: dict[str, object] = {
        "sub": user,
        "name": name or user,
        "role": role,
        "iat": issued,
        "exp": issued + int(ttl_s),
    }
    for key, value in (traits or {}).items():
        if key not in TRAITS:
            raise ValueError(f"traits are {TRAITS}, not {key!r}")
        claims[key] = value
    if isinstance(room, list):
        claims["rooms"] = room
    else:
        claims["room"] = room
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(secret: str, token: str, room: str | None = None) -> Identity:
    """Check a token's signature, expiry and room. Raises ``AuthError`` with the close code."""
    if not secret:
        raise AuthError(CloseCode.AUTH_FAILED, "server has no signing secret configured")
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]}
        )
    except jwt.ExpiredSignatureError:
        raise AuthError(CloseCode.TOKEN_EXPIRED, "token expired") from None
    except jwt.PyJWTError:
        raise AuthError(CloseCode.AUTH_FAILED, "token invalid or forged") from None
    user = claims.get("sub")
    role = claims.get("role", "viewer")
    if (
        not isinstance(user, str)
        or not USER_ID.fullmatch(user)
        or not isinstance(role, str)  # (a list is unhashable: not even a lookup)
        or role not in ROLE_RANK
    ):
        raise AuthError(CloseCode.AUTH_FAILED, "token claims malformed")
    try:  # PyJWT checked it is a number in the future; one past 1e308 is no float
        expires = float(claims["exp"])
    except (TypeError, ValueError, OverflowError):
        raise AuthError(CloseCode.AUTH_FAILED, "token expiry malformed") from None
    rooms = claims.get("rooms")
    if rooms is None:
        rooms = [claims.get("room", "*")]
    if not isinstance(rooms, list) or not all(isinstance(r, str) for r in rooms):
        raise AuthError(CloseCode.AUTH_FAILED, "token rooms malformed")
    name = claims.get("name")
    identity = Identity(
        user=user,
        name=name[:64] if isinstance(name, str) and name else user,
        role=role,
        rooms=tuple(rooms),
        expires=float(expires),
        traits=_traits(claims),
    )
    if room is not None and not identity.in_room(room):
        raise AuthError(CloseCode.WRONG_ROOM, "token is not valid for this room")
    return identity


def _traits(claims: dict[str, object]) -> tuple[tuple[str, str], ...]:
    """The audience claims worth keeping: short strings (``follower``: a boolean); a malformed
    one is dropped, not refused, since it only feeds aggregates."""
    out: list[tuple[str, str]] = []
    for key in TRAITS:
        value = claims.get(key)
        if key == "follower":
            if value is True:
                out.append((key, "1"))
        elif isinstance(value, str) and 0 < len(value) <= 32:
            out.append((key, value))
    return tuple(out)


def anonymous() -> Identity:
    """A read-only viewer with a throwaway id."""
    return Identity(
        user="anon-" + secrets.token_hex(6), name="guest", role="anonymous", rooms=("*",)
    )


def api_key_ok(configured: str, presented: str | None) -> bool:
    """Constant-time check of the backend's API key."""
    if not configured or not presented:
        return False
    return hmac.compare_digest(configured.encode(), presented.encode())
