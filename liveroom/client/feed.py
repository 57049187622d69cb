"""``lr.feed``: the business-event feed's webhook endpoints, dead letter and health. See
``docs/events.md``."""

from __future__ import annotations

from collections.abc import Sequence

from liveroom.client.http import Http, Json, fields


class Feed:
    """Where liveroom sends the shop's business events, and what it could not deliver."""

    def __init__(self, http: Http) -> None:
        self._http = http

    async def add_endpoint(
        self,
        url: str,
        secret: str,
        *,
        rooms: Sequence[str] | None = None,
        types: Sequence[str] | None = None,
    ) -> Json:
        """Send events to ``url``, signed with ``secret`` (``whsec_`` + base64, the Standard
        Webhooks form): of every room, or of ``rooms``; of every type, or of ``types``. The
        secret is never shown again. Returns the endpoint (``id``, ``url``, ``rooms``, ...)."""
        body = fields(
            url=url,
            secret=secret,
            rooms=None if rooms is None else list(rooms),
            types=None if types is None else list(types),
        )
        answer: Json = await self._http.call("POST", "/api/feed/endpoints", body)
        return answer

    async def endpoints(self) -> list[Json]:
        """Every endpoint, the environment's (``env-1``, ...) and the API's; no secrets."""
        found: list[Json] = await self._http.call("GET", "/api/feed/endpoints", key="endpoints")
        return found

    async def remove_endpoint(self, endpoint: str) -> None:
        """Stop sending to an endpoint added by the API."""
        await self._http.call(
            "DELETE", "/api/feed/endpoints/{endpoint}", key="deleted", endpoint=endpoint
        )

    async def dead_letters(self) -> list[Json]:
        """The newest 100 dead letters (``id``, ``endpoint``, ``event``, ``error``,
        ``attempts``, ``at``)."""
        found: list[Json] = await self._http.call("GET", "/api/feed/dead", key="dead")
        return found

    async def replay(self, ids: Sequence[str]) -> Json:
        """Send dead letters again now, with their original event ids. Returns ``replayed``,
        ``failed`` (with each error) and ``missing``."""
        answer: Json = await self._http.call("POST", "/api/feed/dead/replay", {"ids": list(ids)})
        return answer

    async def health(self, room: str) -> Json:
        """The feed's health as the answering process sees it, with the endpoints that hear
        ``room`` (what the host console shows)."""
        answer: Json = await self._http.call("GET", "/api/rooms/{room}/feed", room=room)
        return answer
