"""Logging: JSON lines, request and connection ids, and no secrets in them.

Tokens travel in the WebSocket URL's query string, so every log record is passed through
``redact`` before it is written: ``token=...``, ``Bearer ...`` and JWT-shaped strings become
``[redacted]``, and so do the configured secret and API key wherever they appear.

``RequestIds`` (ASGI middleware) gives every HTTP request a request id and every WebSocket a
connection id, held in context variables: each line logged while serving it carries the id.
"""

from __future__ import annotations

import itertools
import logging
import re
import secrets
import time
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

import orjson

#: the id of the HTTP request being served, for log lines and the ``X-Request-ID`` header
REQUEST_ID: ContextVar[str | None] = ContextVar("liveroom_request_id", default=None)
#: the id of the WebSocket connection being served
CONN_ID: ContextVar[str | None] = ContextVar("liveroom_conn_id", default=None)
_CALLER_ID = re.compile(r"\A[A-Za-z0-9._:-]{1,64}\Z")

_SECRETS = re.compile(
    r"(?:(token=)[^&\s\"']+)|(?:(Bearer )\S+)"
    # a refresh command's token in a debug dump of a frame, which may be cut short with "..."
    r"|(?:(\"token\"\s*:\s*\")[^\"]*)"
    r"|(?:eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)"
)


def redact(text: str, literals: tuple[str, ...] = ()) -> str:
    """``text`` with tokens, bearer credentials and each of ``literals`` replaced."""
    for literal in literals:
        text = text.replace(literal, "[redacted]")
    return _SECRETS.sub(
        lambda m: (m.group(1) or m.group(2) or m.group(3) or "") + "[redacted]", text
    )


class RedactFilter(logging.Filter):
    """Rewrites the record's message and traceback with secrets removed. Install on handlers.

    ``secrets`` are literal values (the signing secret, the API key) removed wherever they
    appear; values under 8 characters are ignored rather than blank out ordinary words.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.literals = tuple(s for s in secrets if len(s) >= 8)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self.literals)
        if clean != message:
            record.msg = clean
            record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.literals)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and any ``extra`` ids (conn, request)."""

    FIELDS = ("conn", "request", "room", "user", "node", "ip", "code")

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, object] = {
            "ts": round(time.time(), 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for name in self.FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                body[name] = value
        if "conn" not in body and (conn := CONN_ID.get()) is not None:
            body["conn"] = conn
        if "request" not in body and (request := REQUEST_ID.get()) is not None:
            body["request"] = request
        if record.exc_info or record.exc_text:
            text = record.exc_text or self.formatException(record.exc_info)  # type: ignore[arg-type]
            body["exc"] = redact(text)
        return orjson.dumps(body).decode()


class RequestIds:
    """ASGI middleware: a request id per HTTP request and a connection id per WebSocket.

    The request id is the caller's ``X-Request-ID`` when it is a short plain token, else a fresh
    one; it is echoed in the response's ``X-Request-ID``. Connection ids are ``<node>-<n>``.
    Nothing is wrapped on WebSockets, so frames pay nothing for it.
    """

    def __init__(self, app: Any, node_id: str = "") -> None:
        self.app = app
        self.node_id = node_id or secrets.token_hex(4)
        self.conns = itertools.count(1)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            conn = CONN_ID.set(f"{self.node_id}-{next(self.conns)}")
            try:
                await self.app(scope, receive, send)
            finally:
                CONN_ID.reset(conn)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or ()).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _CALLER_ID.fullmatch(given) else secrets.token_hex(8)
        request = REQUEST_ID.set(rid)
        header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(request)


def log_config(
    level: str = "info", json_lines: bool = True, secrets: Iterable[str] = ()
) -> dict[str, object]:
    """A ``logging.config.dictConfig`` for uvicorn and liveroom; ``secrets`` are never logged."""
    formatter = (
        {"()": "liveroom.logs.JsonFormatter"}
        if json_lines
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "main",
        "filters": ["redact"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "liveroom.logs.RedactFilter", "secrets": list(secrets)}},
        "formatters": {"main": formatter},
        "handlers": {"main": handler},
        "loggers": {
            "uvicorn": {"handlers": ["main"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": ["main"], "level": "WARNING", "propagate": False},
            "liveroom": {"handlers": ["main"], "level": level.upper(), "propagate": False},
        },
    }
