"""Tokens: signed by the shop's backend (JWT, HS256), checked here.

Claims: ``sub`` user id, ``name`` display name, ``room`` (one id, or ``"*"`` for every room) or
``rooms`` (a list), ``role`` (viewer, host, admin) and ``exp``. Optional audience claims for the
host's analytics (``TRAITS``): ``region``, ``age`` (an age band), ``gender`` (short strings) and
``follower`` (true when the viewer follows the host); anything else there is ignored. Viewer
tokens and the backend's API key are different things: the API key never opens a WebSocket, a
viewer token never calls a backend-only endpoint.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
import orjson
from jwt.algorithms import HMACAlgorithm

from liveroom.errors import AuthError, CloseCode
from liveroom.protocol import ROLE_RANK, USER_ID

ALGORITHM = "HS256"
#: optional token claims kept on the ``Identity`` for the host's analytics, only as aggregates
TRAITS = ("region", "age", "gender", "follower")
#: the header PyJWT (and most JWT libraries) write for HS256: the only one the quick check takes
_PLAIN_HEADER = {"alg": "HS256", "typ": "JWT"}
#: the claims a token may carry and still take the quick check
_PLAIN_CLAIMS = frozenset({"sub", "name", "role", "room", "rooms", "iat", "exp", *TRAITS})
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


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

    def trait(self, name: str) -> str:
        """The value of audience claim ``name``, or "" when the token has none."""
        for key, value in self.traits:
            if key == name:
                return value
        return ""

    @property
    def anonymous(self) -> bool:
        return self.role == "anonymous"

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
    key = _hmac_key(secret)
    claims = _plain_claims(key, token) if key is not None else None
    if claims is None:  # not of the plain shape, or refused: PyJWT decides, and says why
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
    if not isinstance(user, str) or not USER_ID.fullmatch(user) or role not in ROLE_RANK:
        raise AuthError(CloseCode.AUTH_FAILED, "token claims malformed")
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
        expires=float(claims["exp"]),
        traits=_traits(claims),
    )
    if room is not None and not identity.in_room(room):
        raise AuthError(CloseCode.WRONG_ROOM, "token is not valid for this room")
    return identity


@functools.lru_cache(maxsize=8)
def _hmac_key(secret: str) -> bytes | None:
    """The HMAC key of ``secret``, or None when PyJWT would refuse it as one (empty, or shaped
    like an asymmetric key): every token is then left to PyJWT, which refuses it."""
    try:
        return HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(secret)
    except jwt.PyJWTError:
        return None


def _plain_claims(key: bytes, token: str) -> dict[str, Any] | None:
    """The claims of a token that PyJWT would accept, checked without PyJWT, or None.

    PyJWT's decode costs about a tenth of a whole join (it checks the base64 alphabet one
    character at a time, and parses JSON three times with the standard library). This check
    takes only the plain shape every token of ``mint`` has: the header ``_PLAIN_HEADER``, no
    claim outside ``_PLAIN_CLAIMS``, canonical unpadded base64url, a whole-number ``exp`` still
    ahead and ``iat`` (if any) not ahead, ``sub`` a string, and the HS256 signature, compared in
    constant time. Those are PyJWT's own checks for such a token (``decode`` with
    ``require=["sub", "exp"]``, no leeway). Anything else, a bad signature or expiry included,
    answers None, and PyJWT decides: so a token is only ever accepted here, never refused.
    """
    parts = token.split(".")
    if len(parts) != 3 or not all(_SEGMENT.fullmatch(part) for part in parts):
        return None
    head, body, signature = parts
    signed = hmac.digest(key, f"{head}.{body}".encode(), "sha256")
    if not hmac.compare_digest(base64.urlsafe_b64encode(signed).rstrip(b"="), signature.encode()):
        return None
    try:
        header, claims = orjson.loads(_unbase64(head)), orjson.loads(_unbase64(body))
    except (ValueError, binascii.Error):
        return None
    if header != _PLAIN_HEADER or not isinstance(claims, dict) or claims.keys() - _PLAIN_CLAIMS:
        return None
    exp, iat = claims.get("exp"), claims.get("iat", 0)
    if type(exp) is not int or type(iat) is not int or not isinstance(claims.get("sub"), str):
        return None
    now = time.time()
    return claims if iat <= now < exp else None


def _unbase64(segment: str) -> bytes:
    """Unpadded base64url, decoded; ValueError unless ``segment`` is its canonical encoding
    (PyJWT refuses any other)."""
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != segment.encode():
        raise ValueError("not canonical base64url")
    return raw


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
