"""Tokens for viewers and hosts, signed by the shop's backend with the server's secret.

A viewer's page opens ``/ws?room=R&token=T`` with a token its backend minted for that user; a
host's console uses a host token the same way. ``mint_token`` signs locally (no call to the
server) with the secret the server was started with (``LIVEROOM_SECRET``); ``Tokens.issue``
asks the server to sign instead (``POST /api/tokens``), for backends that do not hold the secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from liveroom import auth
from liveroom.protocol import ROOM_ID, USER_ID

if TYPE_CHECKING:
    from liveroom.client.http import Http

Role = Literal["viewer", "host", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "host", "admin")
MAX_TTL_S = 30 * 86400  # the server's limit for the tokens it issues itself


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token and when it expires (Unix seconds)."""

    token: str
    expires: float


def _check(user: str, rooms: list[str], role: str, name: str | None, ttl_s: int) -> None:
    if not isinstance(user, str) or not USER_ID.fullmatch(user):
        raise ValueError("user is 1 to 64 of A-Z a-z 0-9 _ . : @ -")
    if not rooms:
        raise ValueError("name at least one room, or '*' for every room")
    for room in rooms:
        if not isinstance(room, str) or (room != "*" and not ROOM_ID.fullmatch(room)):
            raise ValueError(f"room {room!r}: 1 to 64 of A-Z a-z 0-9 _ -, or '*'")
    if role not in ROLES:
        raise ValueError(f"role is one of {', '.join(ROLES)}")
    if name is not None and (not isinstance(name, str) or not 0 < len(name) <= 64):
        raise ValueError("name is 1 to 64 characters")
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or not 0 < ttl_s <= MAX_TTL_S:
        raise ValueError(f"ttl_s is a whole number of seconds from 1 to {MAX_TTL_S}")


def mint_token(
    secret: str,
    user: str,
    *,
    room: str | Sequence[str],
    role: Role = "viewer",
    name: str | None = None,
    ttl_s: int = 3600,
    now: float | None = None,
) -> str:
    """Sign a token for ``user`` in ``room`` (one id, several, or ``"*"`` for every room).

    Call it in the backend when a signed-in user opens a room's page, and hand the token to
    that page only. The server accepts it until ``ttl_s`` seconds from ``now`` have passed, for
    the rooms named, with ``role``'s rights; ``name`` is the display name viewers see (the user
    id if not given). The room is required on purpose: a token for ``"*"`` opens every room.
    Raises ``ValueError`` for values the server would refuse, so a bad token fails here and not
    at the viewer's connection.
    """
    if not secret:
        raise ValueError("the secret is the server's LIVEROOM_SECRET; it is empty")
    rooms = [room] if isinstance(room, str) else list(room)
    _check(user, rooms, role, name, ttl_s)
    claim: str | list[str] = room if isinstance(room, str) else rooms
    return auth.mint(secret, user, name=name, room=claim, role=role, ttl_s=ttl_s, now=now)


class Tokens:
    """``lr.tokens``: sign tokens locally (``mint``) or have the server sign them (``issue``)."""

    def __init__(self, http: Http, secret: str | None) -> None:
        self._http = http
        self._secret = secret

    def mint(
        self,
        user: str,
        *,
        room: str | Sequence[str],
        role: Role = "viewer",
        name: str | None = None,
        ttl_s: int = 3600,
    ) -> str:
        """``mint_token`` with the client's ``secret``; ``ValueError`` if it was given none."""
        if not self._secret:
            raise ValueError("LiveroomClient(secret=...) was not given: use tokens.issue()")
        return mint_token(self._secret, user, room=room, role=role, name=name, ttl_s=ttl_s)

    async def issue(
        self,
        user: str,
        *,
        room: str,
        role: Role = "viewer",
        name: str | None = None,
        ttl_s: int = 3600,
    ) -> IssuedToken:
        """Have the server sign a token (``POST /api/tokens``; API key only, one room or "*").

        Same claims as ``mint``; costs a round trip, needs no secret in the backend. The
        ``expires`` time is the server's clock.
        """
        body: dict[str, object] = {"user": user, "room": room, "role": role, "ttl": ttl_s}
        if name is not None:
            body["name"] = name
        answer = await self._http.call("POST", "/api/tokens", body)
        return IssuedToken(token=str(answer["token"]), expires=float(answer["expires"]))


__all__ = ["IssuedToken", "Role", "Tokens", "mint_token"]
