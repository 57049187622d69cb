"""Logging: JSON lines, and no secrets in them.

Tokens travel in the WebSocket URL's query string, so every log record is passed through
``redact`` before it is written: ``token=...``, ``Bearer ...`` and JWT-shaped strings become
``[redacted]``.
"""

from __future__ import annotations

import logging
import re
import time

import orjson

_SECRETS = re.compile(
    r"(?:(token=)[^&\s\"']+)|(?:(Bearer )\S+)"
    r"|(?:eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)"
)


def redact(text: str) -> str:
    return _SECRETS.sub(lambda m: (m.group(1) or m.group(2) or "") + "[redacted]", text)


class RedactFilter(logging.Filter):
    """Rewrites the record's message with secrets removed. Install on handlers."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg = clean
            record.args = ()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, and any ``extra`` ids (conn, request)."""

    FIELDS = ("conn", "request", "room", "user", "node")

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
        if record.exc_info:
            body["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(body).decode()


def log_config(level: str = "info", json_lines: bool = True) -> dict[str, object]:
    """A ``logging.config.dictConfig`` for uvicorn and liveroom."""
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
        "filters": {"redact": {"()": "liveroom.logs.RedactFilter"}},
        "formatters": {"main": formatter},
        "handlers": {"main": handler},
        "loggers": {
            "uvicorn": {"handlers": ["main"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": ["main"], "level": "WARNING", "propagate": False},
            "liveroom": {"handlers": ["main"], "level": level.upper(), "propagate": False},
        },
    }
