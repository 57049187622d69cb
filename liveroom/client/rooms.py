"""``lr.rooms``: a room's settings, system messages, mutes, kicks and numbers.

See ``docs/http.md``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from liveroom.client.errors import from_response
from liveroom.client.http import Http, Json, fields

REPORT = "/api/rooms/{room}/report"


class Rooms:
    """Calls on a room as a whole. Every room exists: one never used has default settings."""

    def __init__(self, http: Http) -> None:
        self._http = http

    async def get(self, room: str) -> Json:
        """The room's settings (``id``, ``title``, ``allow_anonymous``, ``ended``, ...); the
        backend and hosts also see ``sensitive_words``."""
        answer: Json = await self._http.call("GET", "/api/rooms/{room}", key="room", room=room)
        return answer

    async def update(
        self,
        room: str,
        *,
        title: str | None = None,
        host_name: str | None = None,
        host: str | None = None,
        cover: str | None = None,
        allow_anonymous: bool | None = None,
        sensitive_words: Sequence[str] | None = None,
        sensitive_mode: Literal["mask", "self"] | None = None,
        comment_cap: int | None = None,
        ended: bool | None = None,
    ) -> Json:
        """Change the settings given (the others stay); every viewer gets a ``room`` event.

        ``ended=True`` ends the live: every viewer is closed with 4010. ``host`` is the host's
        (shop's) account id: analytics counts returning viewers over a host's rooms. Returns
        the settings after the change.
        """
        body = fields(
            title=title,
            host_name=host_name,
            host=host,
            cover=cover,
            allow_anonymous=allow_anonymous,
            sensitive_words=None if sensitive_words is None else list(sensitive_words),
            sensitive_mode=sensitive_mode,
            comment_cap=comment_cap,
            ended=ended,
        )
        answer: Json = await self._http.call(
            "PATCH", "/api/rooms/{room}", body, key="room", room=room
        )
        return answer

    async def system_message(self, room: str, text: str) -> int:
        """Post a system message (at most 500 characters, never shed) to every viewer; returns
        its offset in the room's history."""
        answer = await self._http.call(
            "POST", "/api/rooms/{room}/system", {"text": text}, key="offset", room=room
        )
        return int(answer)

    async def mute(self, room: str, user: str, seconds: int = 600) -> float:
        """Mute ``user`` in the room: their comments answer ``muted`` until the returned time
        (Unix seconds). Muting again sets a new end."""
        body = {"user": user, "seconds": seconds}
        until = await self._http.call(
            "POST", "/api/rooms/{room}/mutes", body, key="until", room=room
        )
        return float(until)

    async def unmute(self, room: str, user: str) -> None:
        """Lift ``user``'s mute in the room (a user not muted is fine)."""
        await self._http.call("DELETE", "/api/rooms/{room}/mutes/{user}", room=room, user=user)

    async def mutes(self, room: str) -> dict[str, float]:
        """The muted users: user id → when the mute ends (Unix seconds)."""
        muted = await self._http.call("GET", "/api/rooms/{room}/mutes", key="muted", room=room)
        return {str(user): float(until) for user, until in dict(muted).items()}

    async def kick(self, room: str, user: str, seconds: int = 600) -> float:
        """Kick ``user`` out of the room: every connection of theirs closes with 4031 on every
        node, and they cannot join again until the returned time (Unix seconds)."""
        body = {"user": user, "seconds": seconds}
        until = await self._http.call(
            "POST", "/api/rooms/{room}/kicks", body, key="until", room=room
        )
        return float(until)

    async def unkick(self, room: str, user: str) -> None:
        """End ``user``'s kick: they may join the room again at once."""
        await self._http.call("DELETE", "/api/rooms/{room}/kicks/{user}", room=room, user=user)

    async def kicks(self, room: str) -> dict[str, float]:
        """The kicked users: user id → when the kick ends (Unix seconds)."""
        kicked = await self._http.call("GET", "/api/rooms/{room}/kicks", key="kicked", room=room)
        return {str(user): float(until) for user, until in dict(kicked).items()}

    async def stats(self, room: str) -> Json:
        """The room's numbers: ``online``, ``peak`` (also as ``peak_online``, its old name),
        ``likes``, ``comments``, ``shed``, ``unique_viewers`` and every counter (``counters``:
        ``card_clicks``, ``buy_tried``, ...).
        Online counts lag by up to a pulse on several nodes."""
        answer: Json = await self._http.call("GET", "/api/rooms/{room}/stats", room=room)
        return answer

    async def report(self, room: str) -> Json:
        """The room's analytics report (``docs/analytics.md``): audience, watch time, sources,
        interaction, products, money, profile. ``NotFound`` when nothing was counted for it."""
        answer: Json = await self._http.call("GET", REPORT, room=room)
        return answer

    async def report_csv(self, room: str) -> str:
        """The same report as CSV text, one figure per row (``group,figure,sku,time,value``)."""
        response = await self._http.send("GET", REPORT + ".csv", room=room)
        if not response.is_success:
            raise from_response(response)
        return response.text

    async def add_ad_spend(self, room: str, cents: int, at: float | None = None) -> int:
        """Add ``cents`` of ad spend to the hour of ``at`` (Unix s; default now), for ROI by
        hour; returns that hour's start. ``BadRequest`` for a negative or fractional amount."""
        body = fields(cents=cents, at=at)
        hour = await self._http.call(
            "POST", "/api/rooms/{room}/ad-spend", body, key="hour", room=room
        )
        return int(hour)
