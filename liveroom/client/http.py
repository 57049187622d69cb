"""The client's one send path: the credential, JSON in and out, answers and failures mapped.

Every method of every namespace (``lr.sales``, ``lr.cards``, ...) goes through ``Http.call``,
so every call sends the same headers, encodes path segments the same way and raises the same
exceptions (``liveroom.client.errors``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from liveroom import __version__
from liveroom.client.errors import from_response, from_transport, unexpected

USER_AGENT = f"liveroom-client/{__version__}"

#: An answer of the HTTP API: a JSON object, as the server sent it.
Json = dict[str, Any]


def segment(value: str) -> str:
    """One path segment, percent-encoded, so an id can never reach another path than its own.

    A slash is refused rather than encoded: servers decode ``%2F`` back into ``/`` before
    routing, so ``sale="s1/audit"`` would reach the audit of ``s1``. No liveroom id holds one.
    """
    if not isinstance(value, str) or value in ("", ".", "..") or "/" in value:
        raise ValueError(f"{value!r} is not an id")
    return quote(value, safe="")


class Http:
    """Sends calls to one liveroom server with one credential.

    ``base_url`` is where the server answers (``https://live.example.com``, or with the mount
    prefix when liveroom is embedded: ``https://shop.example.com/live``). ``credential`` is the
    backend's API key, or a host or viewer token (for the calls that role may make).
    """

    def __init__(self, base_url: str, credential: str, client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client
        self._headers = {
            "authorization": f"Bearer {credential}",
            "accept": "application/json",
            "user-agent": USER_AGENT,
        }

    def url(self, template: str, ids: Mapping[str, str]) -> str:
        """The URL of a route ``template`` (as the server spells it) with ``ids`` encoded in."""
        return self.base_url + template.format_map({k: segment(v) for k, v in ids.items()})

    async def send(
        self, method: str, template: str, body: Mapping[str, Any] | None = None, **ids: str
    ) -> httpx.Response:
        """One request; its response whatever the status. Raises ``NetworkError`` only."""
        headers = dict(self._headers)
        content = None
        if body is not None:
            content = orjson.dumps(body)
            headers["content-type"] = "application/json"
        url = self.url(template, ids)
        try:
            return await self.client.request(method, url, content=content, headers=headers)
        except httpx.TransportError as exc:
            raise from_transport(exc) from exc

    async def call(
        self,
        method: str,
        template: str,
        body: Mapping[str, Any] | None = None,
        *,
        key: str | None = None,
        **ids: str,
    ) -> Any:
        """One API call. On 2xx, the answer's JSON object, or with ``key`` its one field (the
        sale of ``{"sale": {...}}``); else the mapped exception (``errors.from_response``)."""
        response = await self.send(method, template, body, **ids)
        if not response.is_success:
            raise from_response(response)
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise unexpected(response, "the answer is not JSON") from None
        if not isinstance(answer, dict) or (key is not None and key not in answer):
            raise unexpected(response, f"the answer is not a JSON object with {key or 'fields'}")
        return answer if key is None else answer[key]


def fields(**values: Any) -> Json:
    """A request body of the fields given a value: ``None`` means "not sent", so the server
    keeps its default (or, for an update, the current setting)."""
    return {k: v for k, v in values.items() if v is not None}
