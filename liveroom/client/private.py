"""``lr.private``: private traffic, following the host, its cards and bookings. See
``docs/private-traffic.md``.

The shop's backend follows and books for a ``user`` (a follow made in the shop's app, say);
the follow's invite card still reaches that user's connections in the room, privately.
"""

from __future__ import annotations

from liveroom.client.http import Http, Json, fields

ROOM = "/api/rooms/{room}"


class Private:
    """Follow and unfollow a room's host for a user; set the invite and service cards; schedule
    the next live and book it."""

    def __init__(self, http: Http) -> None:
        self._http = http

    async def follow(self, room: str, *, user: str, name: str | None = None) -> Json:
        """Make ``user`` a follower of the room's host (idempotent):
        ``{following, new, followers}``. ``Conflict`` ``bad_host`` when the room's ``host``
        setting cannot be followed."""
        answer: Json = await self._http.call(
            "POST", ROOM + "/follow", fields(user=user, name=name), room=room
        )
        return answer

    async def unfollow(self, room: str, *, user: str) -> Json:
        """``user`` no longer follows the room's host (idempotent): ``{following, removed,
        followers}``."""
        answer: Json = await self._http.call(
            "POST", ROOM + "/unfollow", fields(user=user), room=room
        )
        return answer

    async def followers(self, room: str, *, user: str | None = None) -> Json:
        """The host's follower count ``{host, followers}``, with ``following`` for ``user``."""
        answer: Json = await self._http.call(
            "GET", ROOM + "/followers" + _for(user), None, **_ids(room, user)
        )
        return answer

    async def cards(self, room: str) -> Json:
        """The room's ``invite`` and ``service`` cards: the room's, the host's, and the one
        that applies."""
        answer: Json = await self._http.call("GET", ROOM + "/private-cards", room=room)
        return answer

    async def set_card(
        self,
        room: str,
        kind: str,
        *,
        message: str,
        link: str | None = None,
        image: str | None = None,
        for_host: bool = False,
    ) -> Json:
        """Set the ``invite`` or ``service`` card of the room (``for_host``: of every room of
        its host). ``BadRequest`` ``bad_card`` without a link or image, or with a bad URL."""
        answer: Json = await self._http.call(
            "PUT",
            ROOM + "/private-cards/{kind}" + _scope(for_host),
            fields(message=message, link=link, image=image),
            room=room,
            kind=kind,
        )
        return answer

    async def remove_card(self, room: str, kind: str, *, for_host: bool = False) -> Json:
        """Remove the room's card of ``kind`` (``for_host``: the host's)."""
        answer: Json = await self._http.call(
            "DELETE", ROOM + "/private-cards/{kind}" + _scope(for_host), room=room, kind=kind
        )
        return answer

    async def schedule(self, room: str, *, title: str, starts: float | None = None) -> Json:
        """Schedule the room's next live: viewers may book it until the room goes live.
        ``Conflict`` ``room_live`` while it is live."""
        answer: Json = await self._http.call(
            "PUT", ROOM + "/booking", fields(title=title, starts=starts), room=room
        )
        return answer

    async def booking(self, room: str, *, user: str | None = None) -> Json:
        """The room's booking round ``{booking}``, with ``booked`` for ``user``."""
        answer: Json = await self._http.call(
            "GET", ROOM + "/booking" + _for(user), None, **_ids(room, user)
        )
        return answer

    async def book(self, room: str, *, user: str, name: str | None = None) -> Json:
        """Book ``user`` for the room's scheduled live (idempotent): ``{booked, new,
        bookings}``. ``NotFound`` ``not_scheduled``; ``Conflict`` ``room_live``,
        ``room_ended``."""
        answer: Json = await self._http.call(
            "POST", ROOM + "/booking", fields(user=user, name=name), room=room
        )
        return answer


def _scope(for_host: bool) -> str:
    return "?scope=host" if for_host else ""


def _for(user: str | None) -> str:
    """The query naming the user a read is about (ids are encoded by ``Http.url``)."""
    return "?user={user}" if user else ""


def _ids(room: str, user: str | None) -> dict[str, str]:
    return {"room": room, "user": user} if user else {"room": room}
