"""The error codes only the feed answers with (``docs/events.md``, ``docs/protocol.md``)."""

from __future__ import annotations

from liveroom.errors import Code


class FeedCode(Code):
    """Refusals of the feed's HTTP API."""

    BAD_ENDPOINT = "bad_endpoint", 400
