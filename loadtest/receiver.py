"""A local webhook receiver for ``--feed`` runs: takes the business-event feed's POSTs
(``docs/events.md``), checks each signature, counts the events and when they arrived.

A plain asyncio HTTP/1.1 server with keep-alive, not a web framework: it should cost the
machine as little as a real receiver that keeps up, so that the run measures liveroom.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

import orjson

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"
BUSY = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
FORBIDDEN = b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n"


class FeedReceiver:
    """Listens on loopback; ``url`` and ``secret`` go into the server's ``feed_endpoints``."""

    def __init__(self) -> None:
        self.key = secrets.token_bytes(32)
        self.secret = "whsec_" + base64.b64encode(self.key).decode()
        self.ids: set[str] = set()
        self.arrived: list[float] = []  # when each new event first arrived
        self.types: dict[str, int] = {}
        self.events = 0  # with duplicates
        self.requests = 0
        self.bad = 0
        self.first = 0.0
        self.last = 0.0
        self.server: asyncio.Server | None = None
        self.port = 0
        #: while False every request is answered 503 (``--feed-backlog``: the events pile up)
        self.open = True
        self.opened_at = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def endpoints(self) -> str:
        """The ``feed_endpoints`` setting that sends every event here."""
        return orjson.dumps([{"url": self.url, "secret": self.secret}]).decode()

    async def start(self) -> FeedReceiver:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                if not await reader.readline():
                    return
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                writer.write(self._take(headers, body))
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    def release(self) -> None:
        """Start taking requests (after a held run's buys)."""
        self.open = True
        self.opened_at = time.time()

    def _take(self, headers: dict[str, str], body: bytes) -> bytes:
        self.requests += 1
        if not self.open:
            return BUSY
        msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
        mac = hmac.new(self.key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
        if headers.get("webhook-signature") != "v1," + base64.b64encode(mac).decode():
            self.bad += 1
            return FORBIDDEN
        payload = orjson.loads(body)
        events: list[dict[str, Any]] = (
            payload["events"] if payload.get("type") == "batch" else [payload]
        )
        now = time.time()
        self.first = self.first or now
        self.last = now
        self.events += len(events)
        for event in events:
            if event["id"] not in self.ids:
                self.ids.add(event["id"])
                self.arrived.append(now)
                self.types[event["type"]] = self.types.get(event["type"], 0) + 1
        return OK

    def summary(self, since: float) -> dict[str, Any]:
        """What arrived; ``since``: when the buys started. The rate is over the events that
        arrived after ``since``, from the first of them to the last (for a held run: the
        backlog draining, from the first request taken after the release)."""
        late = [t for t in self.arrived if t >= since]
        span = late[-1] - late[0] if late else 0.0
        return {
            "events": len(self.ids),
            "duplicates": self.events - len(self.ids),
            "requests": self.requests,
            "bad_signatures": self.bad,
            "types": dict(sorted(self.types.items())),
            "arrival_s": round(span, 3),
            "events_per_s": round(len(late) / span, 1) if span > 0 else None,
            "last_after_start_s": round(self.last - since, 3) if self.last else None,
            "backlog": bool(self.opened_at),
        }
